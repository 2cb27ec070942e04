"""gunicorn settings for the portal and triage behind nginx (deploy/nginx/site.conf.in).

`tipline serve SITE --host --port --workers` passes the bind address, the worker count and
the gthread worker on its command line; the systemd units point gunicorn here with
GUNICORN_CMD_ARGS="--config /etc/tipline/gunicorn.conf.py" for the rest.
"""

# nginx hands over only whole requests, over loopback: gunicorn's own limits stay as a
# second fence, tighter than nginx's buffers allow anyway.
limit_request_line = 4094
limit_request_fields = 60
limit_request_field_size = 8190

# nginx talks HTTP/1.0 to its upstream and closes after each answer; nothing to keep alive.
keepalive = 2

# A worker silent for this long is restarted (a request that hangs, not a slow client:
# those never reach gunicorn). Submissions with large attachments scrub for a while.
timeout = 120

# Heartbeat files on tmpfs, not on a disk that may stall (gunicorn's documentation, FAQ
# "Blocking OS calls").
worker_tmp_dir = "/dev/shm"  # noqa: S108 (gunicorn names its own files there)

# Only nginx on this machine may say which scheme the client used (X-Forwarded-Proto);
# the client's address is taken by the app itself (TIPLINE_PROXY_COUNT=1).
forwarded_allow_ips = "127.0.0.1,::1"

# No access log: it would hold reporters' requests with exact times (DESIGN.md,
# "Anonymity"). Errors go to standard error, which systemd hands to the journal.
accesslog = None
errorlog = "-"
loglevel = "warning"
