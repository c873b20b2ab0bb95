"""The user's files, touched safely: bounded reads, planned atomic writes, marked blocks.

Shared by ``setup``, ``uninstall`` and ``learn`` (private to the package)::

    before = read_text(path)                                   # None when absent; refuses odd files
    after = put_block(before, markers, body, path)             # only the marked block changes
    apply_changes([FileChange(path, before, after, "the block")])  # checked first, then atomic
"""

from stratum_mcp._fs.blocks import Markers, block_body, drop_block, put_block
from stratum_mcp._fs.files import (
    MAX_FILE_BYTES,
    Action,
    FileChange,
    apply_changes,
    ensure_writable,
    line_ending,
    private_dir,
    read_text,
    remove_empty_dirs,
    render_change,
    with_line_ending,
)

__all__ = [
    "MAX_FILE_BYTES",
    "Action",
    "FileChange",
    "Markers",
    "apply_changes",
    "block_body",
    "drop_block",
    "ensure_writable",
    "line_ending",
    "private_dir",
    "put_block",
    "read_text",
    "remove_empty_dirs",
    "render_change",
    "with_line_ending",
]
