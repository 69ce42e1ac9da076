"""The online HTTP service over the Pipeline: ``create_app(config)``, served by ``ecorec serve``."""

from ecorec.service.app import create_app

__all__ = ["create_app"]
