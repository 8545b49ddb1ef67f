"""Prints a digest of every row of every table of a database (SQLAlchemy URL), to show that
something that was to only read it wrote nothing.

    python glance_fingerprint.py SQLALCHEMY_URL
"""

import hashlib
import json
import sys

import sqlalchemy

engine = sqlalchemy.create_engine(sys.argv[1])
meta = sqlalchemy.MetaData()
meta.reflect(bind=engine)
out = {}
with engine.connect() as db:
    for name, table in sorted(meta.tables.items()):
        rows = sorted(repr(tuple(r)) for r in db.execute(table.select()))
        out[name] = [len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()]
json.dump(out, sys.stdout, sort_keys=True)
