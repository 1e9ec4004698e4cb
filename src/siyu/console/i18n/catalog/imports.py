"""Imports of event files and the upload refusals."""

from __future__ import annotations

from siyu.console.i18n.plural import Message, Plural

MESSAGES: dict[str, Message] = {
    # A run that stopped on an error: the technical reason follows, in a code box.
    "imports.failed_note": (
        "导入中途停止，上传的文件已保留，可以修正后重新导入。技术信息：",
        "The import stopped; the uploaded file is kept for another try. Details:",
    ),
    "imports.title": ("导入", "Imports"),
    "imports.upload_heading": ("上传事件文件", "Upload an event file"),
    "imports.upload_hint": (
        "JSON Lines 格式（.jsonl），每行一个标准事件；最大 2 GiB。",
        "JSON Lines (.jsonl), one canonical event per line; up to 2 GiB.",
    ),
    "imports.file": ("文件", "File"),
    "imports.submit": ("上传并导入", "Upload and import"),
    "imports.uploading": ("上传中…", "Uploading…"),
    "imports.runs": ("导入记录", "Import runs"),
    "imports.empty": ("还没有导入记录。", "No imports yet."),
    "imports.col.file": ("文件", "File"),
    "imports.col.created": ("上传时间", "Uploaded"),
    "imports.col.status": ("状态", "Status"),
    "imports.col.progress": ("进度", "Progress"),
    "imports.accepted": ("成功 {n}", "{n} accepted"),
    "imports.rejected": ("拒绝 {n}", "{n} rejected"),
    "imports.members_created": ("新会员 {n}", Plural(one="1 new member", other="{n} new members")),
    "imports.size": ("{size}", "{size}"),
    "imports.rejected_lines": ("被拒绝的行（{n}）", "Rejected lines ({n})"),
    "imports.rejected_kept": ("仅保存前 200 条。", "Only the first 200 are kept."),
    "imports.col.line": ("行号", "Line"),
    "imports.col.code": ("错误码", "Code"),
    "imports.col.reason": ("原因", "Reason"),
    "imports.queued_notice": (
        "已上传“{name}”，正在排队导入。",
        "Uploaded “{name}”; it is queued for import.",
    ),
    "import.status.queued": ("排队中", "Queued"),
    "import.status.running": ("导入中", "Running"),
    "import.status.done": ("已完成", "Done"),
    "import.status.failed": ("失败", "Failed"),
}
