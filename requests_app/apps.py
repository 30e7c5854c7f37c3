from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Data-subject requests"

    def ready(self) -> None:
        # The record store tells us when a job finished (retention never imports us):
        # an erasure job of a request completes the request in the job's transaction.
        from retention.signals import job_finished, sweep_finished

        job_finished.connect(_job_finished, dispatch_uid="requests_app.erasure_job_finished")
        # Each organisation's nightly sweep also ends the retention period of its requests.
        sweep_finished.connect(_sweep_finished, dispatch_uid="requests_app.requests_anonymise")


def _job_finished(sender, job, **kwargs) -> None:
    from requests_app.services.fulfilment import erasure_job_finished

    erasure_job_finished(job=job)


def _sweep_finished(sender, run, **kwargs) -> None:
    from requests_app.services.anonymisation import requests_anonymise_expired

    requests_anonymise_expired(organisation=run.organisation, now=run.cutoff)
