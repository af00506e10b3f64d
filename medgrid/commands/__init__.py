"""Command groups that medgrid.cli registers on the main ``medgrid`` group."""
