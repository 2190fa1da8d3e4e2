"""Operations: alerts (``meta.alert`` and the webhook); metrics, audit, roles and users join them."""
