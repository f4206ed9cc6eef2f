"""What people read, in Chinese by default and English on request, from one catalogue.

Alerts (and, as they come, reports and the console) take their words from here, so a
reason code such as ``timeout`` reads the same wherever an engineer meets it.
"""

from __future__ import annotations

from typing import Literal

Language = Literal["zh", "en"]

_CATALOGUE: dict[str, dict[Language, str]] = {
    # Alert kinds
    "alert.opened": {"zh": "新故障", "en": "New fault"},
    "alert.reopened": {"zh": "故障复发", "en": "Fault again"},
    "alert.unacknowledged": {
        "zh": "故障未响应（升级）",
        "en": "Fault not acknowledged (escalated)",
    },
    "alert.repair_due": {"zh": "修复即将超时", "en": "Repair deadline near"},
    "alert.resolved": {"zh": "故障已恢复", "en": "Fault resolved"},
    "alert.receiver_failing": {"zh": "告警通道故障", "en": "Alert receiver failing"},
    # Fault classes
    "class.front_end": {"zh": "前端故障", "en": "front-end fault"},
    "class.network": {"zh": "网络故障", "en": "network fault"},
    # Reasons (agent/wire.py Reason)
    "reason.ok": {"zh": "正常", "en": "OK"},
    "reason.timeout": {"zh": "无响应（超时）", "en": "no answer (timeout)"},
    "reason.refused": {"zh": "连接被拒绝", "en": "connection refused"},
    "reason.unreachable": {"zh": "网络不可达", "en": "unreachable"},
    "reason.auth_failed": {"zh": "认证失败（密码错误）", "en": "authentication failed"},
    "reason.bad_response": {"zh": "应答异常", "en": "bad response"},
    "reason.stream_unavailable": {"zh": "实时视频不可用", "en": "live video unavailable"},
    "reason.clock_skew": {"zh": "设备时钟偏差", "en": "clock off"},
    "reason.no_recent_recording": {"zh": "录像中断", "en": "no recent recording"},
    "reason.captures_stalled": {"zh": "卡口抓拍停止", "en": "captures stalled"},
    "reason.upload_backlog": {"zh": "卡口上传积压", "en": "upload backlog"},
    "reason.door_forced": {"zh": "门被强行打开", "en": "door forced open"},
    "reason.tamper": {"zh": "设备被拆", "en": "tampered"},
    "reason.rebooted": {"zh": "设备重启", "en": "rebooted"},
    "reason.link_down": {"zh": "端口断开", "en": "link down"},
    "reason.unsupported": {"zh": "设备不支持该检查", "en": "check not supported"},
    # Field labels of an alert
    "label.class": {"zh": "类别", "en": "Class"},
    "label.device": {"zh": "设备", "en": "Device"},
    "label.devices": {"zh": "设备", "en": "Devices"},
    "label.address": {"zh": "地址", "en": "Address"},
    "label.region": {"zh": "区域", "en": "Region"},
    "label.station": {"zh": "派出所", "en": "Police station"},
    "label.link": {"zh": "链路", "en": "Link"},
    "label.detected": {"zh": "发现时间", "en": "Detected"},
    "label.response_deadline": {"zh": "响应时限", "en": "Respond by"},
    "label.repair_deadline": {"zh": "修复时限", "en": "Repair by"},
    "label.resolved": {"zh": "恢复时间", "en": "Resolved"},
    "label.acknowledged": {"zh": "已响应", "en": "Acknowledged"},
    "label.receiver": {"zh": "接收人", "en": "Receiver"},
    "label.failing_since": {"zh": "失败开始", "en": "Failing since"},
    "label.error": {"zh": "错误", "en": "Error"},
    # slawatch-agent probe
    "probe.device": {"zh": "设备", "en": "device"},
    "probe.health": {"zh": "状态", "en": "health"},
    "probe.reason": {"zh": "原因", "en": "reason"},
    "probe.took": {"zh": "耗时", "en": "took"},
    "probe.check": {"zh": "检查项", "en": "check"},
    "probe.result": {"zh": "结果", "en": "result"},
    "probe.metric": {"zh": "指标", "en": "metric"},
    "probe.value": {"zh": "数值", "en": "value"},
    "probe.how": {"zh": "应答细节", "en": "how"},
    "probe.said": {"zh": "设备的应答", "en": "what the device said"},
    "health.up": {"zh": "在线", "en": "up"},
    "health.degraded": {"zh": "降级", "en": "degraded"},
    "health.down": {"zh": "离线", "en": "down"},
    "text.and_more": {"zh": "等 {count} 台", "en": "and {more} more ({count} in all)"},
    "text.devices_count": {"zh": "{count} 台设备", "en": "{count} device(s)"},
}


def text(key: str, language: Language = "zh", **values: object) -> str:
    """The words for ``key``; an unknown key shows itself (a missing entry is visible)."""
    entry = _CATALOGUE.get(key)
    if entry is None:
        return key
    return entry[language].format(**values) if values else entry[language]


def reason_text(reason: str, language: Language = "zh") -> str:
    return text(f"reason.{reason}", language)
