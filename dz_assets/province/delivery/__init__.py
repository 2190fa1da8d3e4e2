"""Delivery of provincial packages: the inbox, the batch registry, the pipeline from inbox to end
state (FULL, INCR and RECON packages), the object store, rejects and the batch's balance figures."""
