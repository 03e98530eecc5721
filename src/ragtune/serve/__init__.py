"""``ragtune serve``: an OpenAI-compatible API and a web page over the same pipelines as the CLI.

Needs the ``serve`` extra (fastapi, uvicorn, python-multipart). Start with ``ragtune serve``
or build the ASGI app with :func:`ragtune.serve.app.create_app`. See ``README.md`` in this folder.
"""
