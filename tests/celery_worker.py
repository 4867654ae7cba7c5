"""Imported by the Celery worker that the Celery tests start (``celery -A tests.celery_worker``)."""

from tests.celery_support import create_app

celery_app = create_app().extensions["celery"]
