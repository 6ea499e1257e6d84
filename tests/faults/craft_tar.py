#!/usr/bin/env python3
"""Write a hostile pax archive for tests/faults/test_fault_hostile.c.

    craft_tar.py CASE OUT.tar OUTSIDE_DIR

OUTSIDE_DIR is a directory beside the restore target that nothing may
touch; cases aim at it by absolute path, by '..', through symlinks and hard
links."""
import io
import sys
import tarfile

case, out, outside = sys.argv[1], sys.argv[2], sys.argv[3]


def reg(name, data=b"owned\n"):
    t = tarfile.TarInfo(name)
    t.size = len(data)
    t.mode = 0o644
    t.mtime = 1700000000
    return t, io.BytesIO(data)


def link(name, target, kind):
    t = tarfile.TarInfo(name)
    t.type = kind
    t.linkname = target
    t.mode = 0o777 if kind == tarfile.SYMTYPE else 0o644
    t.mtime = 1700000000
    return t, None


def node(name, kind):
    t = tarfile.TarInfo(name)
    t.type = kind
    t.devmajor, t.devminor = 1, 3
    t.mode = 0o666
    return t, None


def directory(name):
    t = tarfile.TarInfo(name)
    t.type = tarfile.DIRTYPE
    t.mode = 0o755
    return t, None


cases = {
    "dotdot": [reg("ok.txt", b"fine\n"), reg("../pwned")],
    "dotdot_inside": [directory("a"), reg("a/../../outside/pwned")],
    "absolute": [reg(outside + "/abs")],
    "symlink_then_file": [link("escape", outside, tarfile.SYMTYPE), reg("escape/pwned")],
    "relative_symlink_then_file": [directory("d"), link("d/up", "../../outside", tarfile.SYMTYPE),
                                   reg("d/up/pwned")],
    "symlink_then_replace": [link("s", outside + "/secret", tarfile.SYMTYPE),
                             reg("s", b"overwritten\n")],
    "hardlink_outside": [link("h", outside + "/secret", tarfile.LNKTYPE)],
    "hardlink_dotdot": [link("h", "../outside/secret", tarfile.LNKTYPE)],
    "hardlink_through_symlink": [link("s", outside, tarfile.SYMTYPE),
                                 link("h", "s/secret", tarfile.LNKTYPE)],
    "char_device": [node("null", tarfile.CHRTYPE)],
    "block_device": [node("disk", tarfile.BLKTYPE)],
    # a newline in a refused entry: the error must stay one line
    "newline_refused": [node("x\nballast-backup: info: restore finished", tarfile.CHRTYPE)],
    # a newline in an ordinary name: restored as is, inside the target
    "newline_ok": [reg("a\nb.txt", b"two lines in a name\n"), reg("plain.txt", b"plain\n")],
}

with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
    for info, data in cases[case]:
        tar.addfile(info, data)
