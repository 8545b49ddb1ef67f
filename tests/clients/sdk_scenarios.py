"""openstacksdk scenarios against Glint. Usage: sdk_scenarios.py BASE ADMIN_TOKEN OTHER_TOKEN OTHER_PROJECT WORKDIR

Prints one line per scenario; exits non-zero at the first failure.
"""
import hashlib
import os
import sys
import time

import openstack
from openstack import exceptions


def connect(base, token):
    return openstack.connect(
        auth_type="admin_token",
        auth={"endpoint": base, "token": token},
        image_endpoint_override=base,
    )


def check(cond, what):
    if not cond:
        raise SystemExit("FAILED: " + what)
    print("ok:", what, flush=True)


def main():
    base, admin_token, other_token, other_project, work = sys.argv[1:6]
    admin = connect(base, admin_token)
    other = connect(base, other_token)
    data = bytes(i % 239 for i in range(400_000))
    path = os.path.join(work, "sdk.raw")
    with open(path, "wb") as f:
        f.write(data)

    # Create with properties, uploading a file; download it back (checksum validated).
    img = admin.image.create_image(
        name="sdk-one", filename=path, disk_format="raw", container_format="bare",
        os_distro="debian", hw_disk_bus="virtio", wait=True,
    )
    img = admin.image.get_image(img.id)
    check(img.status == "active", "create with a file: active")
    check(img.properties.get("os_distro") == "debian" or getattr(img, "os_distro", None) == "debian",
          "create with properties")
    out = os.path.join(work, "sdk-back.raw")
    admin.image.download_image(img, output=out)
    with open(out, "rb") as f:
        check(hashlib.md5(f.read()).hexdigest() == hashlib.md5(data).hexdigest(), "download matches")

    # Properties set and unset.
    admin.image.update_image(img, a="1", b="2")
    img = admin.image.get_image(img.id)
    check(img.properties.get("a") == "1" and img.properties.get("b") == "2", "set properties")
    props = dict(img.properties)
    props.pop("a")
    admin.image.update_image(img, properties=props)
    img = admin.image.get_image(img.id)
    check("a" not in img.properties and img.properties.get("b") == "2", "unset removes only what was named")

    # Tags.
    admin.image.add_tag(img, "blue")
    admin.image.add_tag(img, "green")
    admin.image.remove_tag(img, "blue")
    check(admin.image.get_image(img.id).tags == ["green"], "tags")

    # Lists: filters, sorting, paging.
    for i in range(5):
        admin.image.create_image(name="sdk-page-%d" % i, disk_format="raw", container_format="bare",
                                 allow_duplicates=True, tags=["sdk-batch"])
    names = [i.name for i in admin.image.images(sort="name:asc", limit=2, tag="sdk-batch")]
    check(names == ["sdk-page-%d" % i for i in range(5)], "list pages in order: %s" % names)

    # Sharing.
    admin.image.add_member(img, member_id=other_project)
    check(other.image.get_image(img.id).id == img.id, "a pending member can fetch the image")
    other.image.update_member(other_project, img, status="accepted")
    check(img.id in [i.id for i in other.image.images()], "an accepted member lists the image")

    # Deactivate, reactivate.
    admin.image.deactivate_image(img)
    check(admin.image.get_image(img.id).status == "deactivated", "deactivate")
    admin.image.reactivate_image(img)
    check(admin.image.get_image(img.id).status == "active", "reactivate")

    # Protect, fail to delete, unprotect, delete (on a fresh copy: the local one's tags are
    # stale, and the SDK would patch them element by element, which Glance refuses too).
    img = admin.image.get_image(img.id)
    admin.image.update_image(img, is_protected=True)
    try:
        admin.image.delete_image(img)
        check(False, "deleting a protected image fails")
    except exceptions.HttpException as e:
        check(e.status_code == 403, "deleting a protected image fails (403)")
    img = admin.image.get_image(img.id)
    admin.image.update_image(img, is_protected=False)
    admin.image.delete_image(img)
    try:
        admin.image.get_image(img.id)
        check(False, "the deleted image is gone")
    except exceptions.NotFoundException:
        check(True, "the deleted image is gone")

    # Import with glance-direct.
    imp = admin.image.create_image(
        name="sdk-import", filename=path, disk_format="raw", container_format="bare",
        use_import=True, wait=True, timeout=60,
    )
    deadline = time.time() + 30
    while admin.image.get_image(imp.id).status != "active":
        if time.time() > deadline:
            check(False, "glance-direct import finishes")
        time.sleep(0.1)
    check(admin.image.get_image(imp.id).size == len(data), "glance-direct import")
    print("ALL OK")


if __name__ == "__main__":
    main()
