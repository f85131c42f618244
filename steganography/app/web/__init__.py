"""``stegavox serve``: a local web page for sending and receiving hidden speech.

:mod:`steganography.app.web.server` builds the Starlette application (:func:`create_app`) over
the Python facade :mod:`steganography.app.api`; :mod:`steganography.app.web.command` adds the
``serve`` subcommand. The page's HTML, JavaScript and CSS are package files under ``static/``:
nothing is loaded from the network.
"""
