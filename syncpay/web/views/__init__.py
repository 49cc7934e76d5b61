"""Views: what a page shows, worded for its request (view-models of pre-formatted
strings for the templates in ``web/templates/``, and the JSON answers' shapes). Routes
read the request, call the library and hand its data to a view."""
