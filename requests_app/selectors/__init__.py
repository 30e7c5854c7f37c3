"""Reads of the request workflow (HackSoft selectors): no writes, no audit entries.

- `public`: what the data subject's pages show;
- `queue`: the staff queue, a request's page, reports and the retention overview;
- `fulfilment`: the fulfilment state, erasure plan and failures;
- `matching`: the data subjects a request is matched to.
"""
