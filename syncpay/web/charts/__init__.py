"""Charts drawn by the server as inline SVG (no JavaScript, no chart library): each
module computes a chart's geometry, a template draws it with the numbers as text."""
