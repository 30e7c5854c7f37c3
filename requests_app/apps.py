from django.apps import AppConfig


class RequestsAppConfig(AppConfig):
    name = "requests_app"
    verbose_name = "Data-subject requests"

    def ready(self) -> None:
        # The record store tells us when a job finished (retention never imports us):
        # an erasure job of a request completes the request in the job's transaction.
        from retention.signals import job_finished

        job_finished.connect(_job_finished, dispatch_uid="requests_app.erasure_job_finished")


def _job_finished(sender, job, **kwargs) -> None:
    from requests_app.services.fulfilment import erasure_job_finished

    erasure_job_finished(job=job)
