"""Measuring: the sweep over architecture, memory size, workload and backend, pricing, the recommendation and the
reports (one renderer for tables and charts)."""
