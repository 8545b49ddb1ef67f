"""Fills a real Glance through its API with python-glanceclient, then prints what Glance
answers for every image (as an administrator), as JSON: the record `glint adopt` must
reproduce. With `dump IDS`, only prints the same record from the server at URL (Glint after
the adoption), for the ids of an earlier record.

    python glance_populate.py http://127.0.0.1:PORT > glance.json
    python glance_populate.py http://127.0.0.1:PORT dump glance.json > glint.json

Identities come as the trusted headers of Glance's `context` middleware (X-Tenant-Id,
X-Roles, ...), which python-glanceclient sends with `identity_headers`.
"""

import hashlib
import io
import json
import sys
import time

from glanceclient import Client
from glanceclient import exc

URL = sys.argv[1]


def client(project, roles="member"):
    headers = {
        "X-Identity-Status": "Confirmed",
        "X-Tenant-Id": project,
        "X-Project-Id": project,
        "X-User-Id": "user-" + project,
        "X-Roles": roles,
    }
    return Client("2", endpoint=URL, token="unused", identity_headers=headers)


admin = client("admin-project", "admin")
alice = client("alice-project")
bob = client("bob-project")
carol = client("carol-project")
dave = client("dave-project")


def data(seed, size):
    block = hashlib.sha256(seed.encode()).digest()
    out = (block * (size // len(block) + 1))[:size]
    return out


def upload(who, image, payload, backend=None):
    if backend:
        who.images.upload(image.id, io.BytesIO(payload), image_size=len(payload), backend=backend)
    else:
        who.images.upload(image.id, io.BytesIO(payload), image_size=len(payload))


def dump(ids):
    record = {"ids": ids, "images": {}}
    for name, image_id in ids.items():
        if name == "deleted":
            continue
        image = admin.images.get(image_id)
        shown = {k: v for k, v in image.items()}
        entry = {"image": shown, "members": [], "md5": None}
        if shown.get("visibility") == "shared" and shown.get("owner") == "alice-project":
            for m in alice.image_members.list(image_id):
                entry["members"].append({"member_id": m["member_id"], "status": m["status"]})
        if shown.get("status") == "active":
            body = b"".join(admin.images.data(image_id))
            entry["md5"] = hashlib.md5(body).hexdigest()
            entry["sha512"] = hashlib.sha512(body).hexdigest()
        record["images"][name] = entry
    try:
        admin.images.get(ids["deleted"])
        record["deleted_visible"] = True
    except exc.HTTPNotFound:
        record["deleted_visible"] = False
    record["tasks"] = sorted([t["id"], t["type"], t["status"]] for t in admin.tasks.list())
    record["namespace"] = dict(admin.metadefs_namespace.get(NS))
    record["namespaces"] = sorted(n["namespace"] for n in admin.metadefs_namespace.list())
    return record


NS = "OS::Operator::Rack"
if len(sys.argv) > 3 and sys.argv[2] == "dump":
    with open(sys.argv[3]) as f:
        json.dump(dump(json.load(f)["ids"]), sys.stdout, indent=1, sort_keys=True, default=str)
    sys.exit(0)

ids = {}

# A snapshot as Nova makes it: properties first, data after.
snap = alice.images.create(
    name="snapshot", disk_format="raw", container_format="bare",
    os_distro="ubuntu", architecture="x86_64", image_type="snapshot",
    instance_uuid="3f1c2a6e-0000-4000-8000-000000000001", base_image_ref="",
    owner_specified_origin="nova",
)
upload(alice, snap, data("snapshot", 1 << 20))
alice.image_tags.update(snap.id, "nightly")
alice.image_tags.update(snap.id, "ubuntu")
ids["snapshot"] = snap.id

# Into the second store.
cheap = alice.images.create(name="in-cheap", disk_format="raw", container_format="bare",
                            hw_disk_bus="scsi")
upload(alice, cheap, data("cheap", 300000), backend="cheap")
ids["in_cheap"] = cheap.id

# Into S3 (glance_store's s3 driver, boto3).
in_s3 = alice.images.create(name="in-s3", disk_format="raw", container_format="bare")
upload(alice, in_s3, data("s3", 200000), backend="bucket")
ids["in_s3"] = in_s3.id

# Shared with three projects: accepted, pending, rejected.
shared = alice.images.create(name="shared", disk_format="raw", container_format="bare",
                             visibility="shared", min_disk=2, min_ram=512)
upload(alice, shared, data("shared", 65536))
for project in ("bob-project", "carol-project", "dave-project"):
    alice.image_members.create(shared.id, project)
bob.image_members.update(shared.id, "bob-project", "accepted")
dave.image_members.update(shared.id, "dave-project", "rejected")
ids["shared"] = shared.id

public = admin.images.create(name="cirros-public", disk_format="raw", container_format="bare",
                             visibility="public", protected=True, os_distro="cirros")
upload(admin, public, data("public", 123457))
ids["public"] = public.id

community = alice.images.create(name="community", disk_format="raw", container_format="bare",
                                visibility="community", os_hidden=True)
upload(alice, community, data("community", 4096))
alice.image_tags.update(community.id, "contrib")
ids["community"] = community.id

deactivated = alice.images.create(name="deactivated", disk_format="raw",
                                  container_format="bare")
upload(alice, deactivated, data("deactivated", 8192))
admin.images.deactivate(deactivated.id)
ids["deactivated"] = deactivated.id

# Properties removed by PATCH: soft-deleted rows.
trimmed = alice.images.create(name="trimmed", disk_format="raw", container_format="bare",
                              keep_me="yes", drop_one="1", drop_two="2")
alice.images.update(trimmed.id, remove_props=["drop_one", "drop_two"])
upload(alice, trimmed, data("trimmed", 10000))
ids["trimmed"] = trimmed.id

# Imported (glance-direct): staged, then imported by a task.
imported = alice.images.create(name="imported", disk_format="raw", container_format="bare")
alice.images.stage(imported.id, io.BytesIO(data("imported", 20000)), image_size=20000)
alice.images.image_import(imported.id, method="glance-direct")
for _ in range(240):
    if alice.images.get(imported.id)["status"] == "active":
        break
    time.sleep(0.25)
ids["imported"] = imported.id

queued = bob.images.create(name="queued", disk_format="iso", container_format="bare",
                           purpose="registered only")
ids["queued"] = queued.id

gone = alice.images.create(name="deleted", disk_format="raw", container_format="bare",
                           reason="deleted in glance")
upload(alice, gone, data("gone", 2048))
alice.images.delete(gone.id)
ids["deleted"] = gone.id

# A failed upload: the data is not the declared format, and Glance refuses it.
broken = alice.images.create(name="broken-upload", disk_format="qcow2", container_format="bare")
try:
    alice.images.upload(broken.id, io.BytesIO(data("broken", 5000)), image_size=5000)
except exc.HTTPException:
    pass
ids["broken"] = broken.id

# An operator's own metadata definitions.
admin.metadefs_namespace.create(namespace=NS, display_name="Rack placement",
                                description="Where the host sits", visibility="public")
admin.metadefs_property.create(NS, name="rack_row", title="Row", type="string",
                               enum=["a", "b", "c"], description="Row of the rack")
admin.metadefs_object.create(NS, name="Placement", description="A host's place",
                             required=["rack_unit"],
                             properties={"rack_unit": {"type": "integer", "title": "Unit"}})
admin.metadefs_tag.create(NS, "edge")
admin.metadefs_resource_type.associate(NS, name="OS::Glance::Image", prefix="rack_")

json.dump(dump(ids), sys.stdout, indent=1, sort_keys=True, default=str)
