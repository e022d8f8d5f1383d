"""Signed plugin indexes: find community plugins by name, install and update them safely.

An index is a static JSON file (any web server or a folder hosts it) listing plugins and
their versions, signed with its publisher's Ed25519 key; each archive is also signed by its
author. The studio pins both keys the first time it sees them and refuses anything that does
not match: a changed key, a bad signature, a size or SHA-256 that differs from the index, or a
version older than the one installed. The verified archive then goes through the ordinary,
safe installer (``studio.plugins.install``) with its permission confirmation.

Modules: ``signing`` (keys, fingerprints, signatures), ``model`` (the index format),
``settings`` (configured indexes and pinned keys in STUDIO_HOME), ``download`` (bounded,
resumable HTTP/folder transfers), ``catalogue`` (fetch, verify, search, advisories),
``fetch_install`` (install/update from an index), ``publish`` (the author's side) and
``commands`` (the ``plugins`` sub-commands).
"""
