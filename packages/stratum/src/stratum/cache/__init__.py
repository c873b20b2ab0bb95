"""Where ``cache="global"`` results live: SQLite (the default) or Redis.

A store is any object with three async methods over opaque bytes
(``CacheStore``): ``get(key)``, ``set(key, value)``, ``delete(key)``. Pick one
with ``configure(cache_store=...)``::

    from stratum.cache import RedisCacheStore, SQLiteCacheStore

    stratum.configure(cache_store=SQLiteCacheStore("/var/cache/app/stratum.sqlite3", ttl_s=86_400))
    stratum.configure(cache_store=RedisCacheStore("redis://cache:6379/0", ttl_s=3600))

With none configured, ``default_store()`` (SQLite at
``$STRATUM_CACHE_DIR/cache.sqlite3``, ``.stratum/`` when unset) is opened on
first use. ``stratum.cache_key(fn, **inputs)`` is the key a call would use.
See ``docs/caching.md``.
"""

from ._stores import CacheStore, RedisCacheStore, SQLiteCacheStore, default_store

__all__ = ["CacheStore", "RedisCacheStore", "SQLiteCacheStore", "default_store"]
