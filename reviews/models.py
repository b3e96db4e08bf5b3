"""Review campaigns and Auto Reclaim live here (not built yet)."""
