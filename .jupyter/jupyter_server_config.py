# Project-local Jupyter configuration; the Makefile points JUPYTER_CONFIG_DIR here.
# CI and many containers run as root, and Jupyter refuses root unless told
# otherwise. The server only listens on localhost, so allowing it is safe here.
c = get_config()  # noqa: F821 - injected by Jupyter when it loads this file
c.ServerApp.allow_root = True
c.ServerApp.ip = "127.0.0.1"
