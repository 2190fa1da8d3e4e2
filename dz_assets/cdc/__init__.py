"""Incremental sync: change messages from RabbitMQ and INCR rows, logged in ``raw.<table>__changes``
and applied to ``ods.<table>`` so that per key the highest ``seq`` wins (change-messages.md)."""
