"""dz-hub's e-code redirect service (spec/ecode-redirect.md) and the doorplate receiver.

- :mod:`redirect_api.tokens`: SM4 tokens (GCM 0x01, CBC + HMAC-SM3 0x02), both ends;
  ``issue_token``, ``decrypt_token``, ``read_token``.
- :mod:`redirect_api.keys`: the key ring from ``DZ_SM4_KEYS`` / ``DZ_SM4_KEYS_FILE``.
- :mod:`redirect_api.app`: ``create_app()``, the FastAPI service (uvicorn factory).
- :mod:`redirect_api.receiver`: the landing page ``/doorplate`` (``create_receiver_app()``).
- :mod:`redirect_api.service`: what both share (service, lifespan, health routes, middleware).
- :mod:`redirect_api.protocol`, :mod:`redirect_api.server`: uvicorn guarded against slow,
  idle and oversized clients; ``run()`` and ``serve_in_thread()``.
- :mod:`redirect_api.replay`: the jti memory in ``meta.redirect_replay``.
"""
