"""Writes rows straight into a Glance database, as the API cannot make them today:

- the table Launchpad bug 901534 left: a snapshot whose properties a v1 `PUT` purged, marked
  `deleted = 1` with `deleted_at` NULL by the Glance of 2011;
- an image a failed v1 upload left `killed`;
- an image whose data is in Swift, a store Glint does not have (its URL carries credentials);
- BULK queued images with 20 properties each (an old, large cloud);
- with RBD (JSON: id, url, size, checksum, os_hash_value), an image whose data Glance's rbd
  store wrote to Ceph, its location without multi-store metadata as a single-store Glance
  leaves it.

    python glance_seed.py SQLALCHEMY_URL BULK [RBD]

Prints the seeded image ids as JSON.
"""

import json
import sys
import uuid

import sqlalchemy
from sqlalchemy import text

URL, BULK = sys.argv[1], int(sys.argv[2])
RBD = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
engine = sqlalchemy.create_engine(URL)

IMAGE = text(
    "INSERT INTO images (id, name, size, status, created_at, updated_at, deleted_at, deleted, "
    "disk_format, container_format, checksum, owner, min_disk, min_ram, protected, "
    "virtual_size, visibility, os_hidden, os_hash_algo, os_hash_value) VALUES "
    "(:id, :name, :size, :status, :created, :created, NULL, FALSE, :disk, 'bare', :checksum, "
    ":owner, 0, 0, FALSE, NULL, :visibility, FALSE, NULL, NULL)"
)
PROPERTY = text(
    "INSERT INTO image_properties (image_id, name, value, created_at, updated_at, deleted_at, "
    "deleted) VALUES (:image, :name, :value, :created, :created, NULL, :deleted)"
)

LOCATION = text(
    "INSERT INTO image_locations (image_id, value, created_at, updated_at, deleted_at, deleted, "
    "meta_data, status) VALUES (:image, :url, :created, :created, NULL, FALSE, :meta, 'active')"
)

seed = str(uuid.uuid4())
killed = str(uuid.uuid4())
swift = str(uuid.uuid4())
with engine.begin() as db:
    db.execute(IMAGE, dict(id=seed, name="nova-snapshot-2011", size=None, status="active",
                           created="2011-12-08 10:00:00", disk="qcow2", checksum=None,
                           owner="alice-project", visibility="private"))
    db.execute(PROPERTY, [
        dict(image=seed, name="image_type", value="snapshot", created="2011-12-08 10:00:00",
             deleted=False),
        dict(image=seed, name="instance_uuid", value="5f9b0c1e-2011-4b5d-9015-000000901534",
             created="2011-12-08 10:00:00", deleted=True),
        dict(image=seed, name="base_image_ref", value="1f0d6ab1-0000-4000-8000-00000000cafe",
             created="2011-12-08 10:00:00", deleted=True),
    ])
    db.execute(IMAGE, dict(id=killed, name="killed-upload", size=None, status="killed",
                           created="2012-03-01 09:30:00", disk="raw", checksum=None,
                           owner="bob-project", visibility="private"))
    db.execute(IMAGE, dict(id=swift, name="in-swift", size=4096, status="active",
                           created="2014-06-01 08:00:00", disk="raw", checksum=None,
                           owner="alice-project", visibility="private"))
    db.execute(LOCATION, dict(image=swift, created="2014-06-01 08:00:00", meta="{}",
                              url="swift+https://glance:swift-secret@swift.example/v1/"
                                  "AUTH_glance/glance/" + swift))
    if RBD:
        db.execute(text(
            "INSERT INTO images (id, name, size, status, created_at, updated_at, deleted_at, "
            "deleted, disk_format, container_format, checksum, owner, min_disk, min_ram, "
            "protected, virtual_size, visibility, os_hidden, os_hash_algo, os_hash_value) VALUES "
            "(:id, 'in-rbd', :size, 'active', '2020-02-02 02:02:02', '2020-02-02 02:02:02', NULL, "
            "FALSE, 'raw', 'bare', :checksum, 'alice-project', 0, 0, FALSE, :size, 'public', "
            "FALSE, 'sha512', :os_hash_value)"), RBD)
        db.execute(LOCATION, dict(image=RBD["id"], created="2020-02-02 02:02:02", meta="{}",
                                  url=RBD["url"]))
    images, properties = [], []
    for i in range(BULK):
        image_id = str(uuid.uuid4())
        created = "2013-%02d-%02d 12:00:%02d" % (1 + i % 12, 1 + i % 28, i % 60)
        images.append(dict(id=image_id, name="bulk-%05d" % i, size=None, status="queued",
                           created=created, disk="raw", checksum=None,
                           owner="bulk-project", visibility="shared"))
        for k in range(20):
            properties.append(dict(image=image_id, name="property_%02d" % k,
                                   value="value %d of image %d" % (k, i), created=created,
                                   deleted=False))
    if images:
        db.execute(IMAGE, images)
        db.execute(PROPERTY, properties)
json.dump({"seed": seed, "killed": killed, "swift": swift,
           "rbd": RBD["id"] if RBD else None}, sys.stdout)
