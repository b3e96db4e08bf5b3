"""Review services, one module per topic: campaigns.py, reclaim.py."""
