"""Load runs against a served bento: the locustfile, and running locust in its own process.

Nothing here imports locust: it runs in a child process only (gevent's monkey-patching must
never reach a pytest process that has already loaded ssl, mlflow or requests)."""
