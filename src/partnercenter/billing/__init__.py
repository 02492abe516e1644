"""Billing: the cloud service catalogue, the usage lines the vendor's billing posts, and the
monthly bills summed from them."""
