"""Business logic of the request workflow (HackSoft style: keyword-only `<entity>_<action>`).

* `requests`     : submit, extend, pause/resume the clock, purge unverified requests
* `verification` : e-mailed codes (send, check)
* `tokens`       : status-page link tokens and API bearer tokens
* `matching`     : finding the organisation's data subjects for a verified request
* `outbox`       : the transactional outbox and its relay to Celery
* `emails`       : rendering and sending the subject / text / HTML triple
* `fulfilment`   : carrying out approved requests (erasure plans, restriction, objection,
                   consent withdrawal, rectification, Art. 19 notices, the reply)
* `packages`     : access and portability packages (build, release, download, expiry)
"""
