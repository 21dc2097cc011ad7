"""The HTML report: ``claims.json`` → one self-contained page (:func:`render.render_html`).

``view`` builds the page's data from the JSON, ``matrix`` the claims × models table, ``plots``
and ``svg`` the inline matplotlib figures, ``compare`` verdict changes between runs, ``format``
number/text formatting; the Jinja2 templates live in ``templates/``.
"""
