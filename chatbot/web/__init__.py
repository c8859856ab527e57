"""HTTP: the page and its routes (views), adding documents (uploads) and serving them
(files), signing in and out (auth), the operator's routes, and the WSGI layers in front
(allowed hosts, a trusted proxy's scheme)."""
