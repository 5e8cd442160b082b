"""Reports: tables and charts derived from result records (never measured here)."""
