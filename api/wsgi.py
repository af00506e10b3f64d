"""The WSGI entry point gunicorn serves (`medgrid serve api`)."""

from api import create_app

app = create_app()
