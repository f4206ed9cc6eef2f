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
    # Evidence report (collector/evidence): headings
    "report.title": {
        "zh": "视频监控运维服务考核报告",
        "en": "Video surveillance service assessment",
    },
    "report.period": {"zh": "考核期", "en": "Period"},
    "report.in_progress": {
        "zh": "考核期尚未结束：统计至 {end}，结算为暂估",
        "en": "Period in progress: measured to {end}; settlement provisional",
    },
    "report.timezone": {"zh": "时区", "en": "Time zone"},
    "report.ledger": {"zh": "台账链", "en": "Ledger chain"},
    "report.ledger_head": {
        "zh": "共 {rows} 行，链头 {head}",
        "en": "{rows} rows, head {head}",
    },
    "report.signed_by": {"zh": "签名密钥 {key_id}", "en": "signed with key {key_id}"},
    "report.unsigned": {"zh": "未签名", "en": "not signed"},
    "report.contracts": {"zh": "各合同考核指标", "en": "Figures per contract"},
    "report.policy_rules": {"zh": "考核规则", "en": "The rules applied"},
    "report.settlement": {"zh": "服务费结算", "en": "Settlement"},
    "report.trend": {"zh": "每日在线率", "en": "Online rate per day"},
    "report.tickets_chart": {
        "zh": "故障工单（按类别与结果）",
        "en": "Tickets by class and outcome",
    },
    "report.worst_devices": {"zh": "离线时间最长的设备", "en": "Devices offline longest"},
    "report.worst_regions": {"zh": "在线率最低的区域", "en": "Regions with the lowest online rate"},
    "report.regions": {"zh": "各区域考核指标", "en": "Figures per region"},
    "report.ticket_list": {"zh": "故障工单", "en": "Tickets"},
    "report.ticket_list_cut": {
        "zh": "仅列出修复超时及最晚的 {shown} 张工单，全部 {count} 张见 tickets.csv 与 figures.xlsx",
        "en": "{shown} of {count} tickets shown (late ones first); all are in tickets.csv and figures.xlsx",
    },
    "report.coverage": {"zh": "监测覆盖", "en": "Coverage"},
    "report.coverage_text": {
        "zh": "监测覆盖率 {coverage}：其余时间设备状态未知，按规则“{unknown}”处理",
        "en": "Watched {coverage} of the time; unknown time is treated as “{unknown}”",
    },
    "report.target": {"zh": "目标", "en": "Target"},
    "report.value": {"zh": "实际", "en": "Measured"},
    "report.met": {"zh": "达标", "en": "met"},
    "report.missed": {"zh": "未达标", "en": "missed"},
    "report.no_target": {"zh": "无考核目标", "en": "no target"},
    "report.figure": {"zh": "指标", "en": "Figure"},
    "report.verdict": {"zh": "结论", "en": "Verdict"},
    "report.total": {"zh": "合计", "en": "Total"},
    "report.none": {"zh": "无", "en": "none"},
    "report.no_contract": {"zh": "无合同（不计费）", "en": "no contract (not billed)"},
    "report.day": {"zh": "日期", "en": "Day"},
    "report.footer": {
        "zh": "本报告由 slawatch {version} 依据台账链自动生成，可用 slawatch-collector evidence verify 复核",
        "en": "Generated by slawatch {version} from the ledger chain; check it with slawatch-collector evidence verify",
    },
    "progress.slice": {"zh": "台账链", "en": "ledger slice"},
    "progress.figures": {"zh": "考核指标", "en": "figures"},
    "progress.report": {"zh": "报告", "en": "report"},
    "outcome.in_time": {"zh": "按时修复", "en": "repaired in time"},
    "outcome.late": {"zh": "修复超时", "en": "repaired late"},
    "outcome.pending": {"zh": "未结束", "en": "pending"},
    # Policy rules in words
    "rule.method.time_weighted": {
        "zh": "按时长加权统计在线率",
        "en": "online rate weighted by time",
    },
    "rule.method.snapshot": {
        "zh": "按定时巡检统计在线率",
        "en": "online rate from scheduled inspections",
    },
    "rule.unknown.exclude": {"zh": "状态未知时间不计入", "en": "unknown time left out"},
    "rule.unknown.down": {"zh": "状态未知时间按离线计", "en": "unknown time counted as down"},
    "rule.unknown.up": {"zh": "状态未知时间按在线计", "en": "unknown time counted as up"},
    "rule.response": {"zh": "故障响应时限 {limit}", "en": "respond within {limit}"},
    "rule.repair": {
        "zh": "修复时限：前端 {front_end}，有备用光纤的网络 {backup}，无备用光纤的网络 {no_backup}",
        "en": "repair within {front_end} (front end), {backup} (network with backup fibre), {no_backup} (without)",
    },
    "rule.settlement.pro_rata": {
        "zh": "按在线率比例结算，预付 {prepay}",
        "en": "paid pro rata to the online rate, {prepay} prepaid",
    },
    "rule.settlement.full_above_target": {
        "zh": "在线率达标全额结算，未达标按在线率比例结算，预付 {prepay}",
        "en": "paid in full when the online target is met, pro rata otherwise; {prepay} prepaid",
    },
    "rule.maintenance": {
        "zh": "维护窗口 {count} 个，窗口内时间不计入考核",
        "en": "{count} maintenance window(s), left out of the figures",
    },
    # Column headings of the report's tables (CSV, XLSX, PDF)
    "column.key": {"zh": "编号", "en": "Id"},
    "column.name": {"zh": "名称", "en": "Name"},
    "column.policy": {"zh": "考核规则", "en": "Policy"},
    "column.unit": {"zh": "计费单位", "en": "Unit"},
    "column.units": {"zh": "数量", "en": "Units"},
    "column.online_rate": {"zh": "在线率", "en": "Online rate"},
    "column.coverage": {"zh": "监测覆盖率", "en": "Coverage"},
    "column.intact_rate": {"zh": "完好率", "en": "Intact rate"},
    "column.networking_rate": {"zh": "联网率", "en": "Networking rate"},
    "column.realtime_video_availability": {"zh": "实时视频可用率", "en": "Live video availability"},
    "column.historical_video_availability": {
        "zh": "历史视频可用率",
        "en": "Recorded video availability",
    },
    "column.fault_rate": {"zh": "故障率", "en": "Fault rate"},
    "column.tickets": {"zh": "工单数", "en": "Tickets"},
    "column.response_timeliness_rate": {"zh": "响应及时率", "en": "Response timeliness"},
    "column.repair_timeliness_rate": {"zh": "修复及时率", "en": "Repair timeliness"},
    "column.late": {"zh": "修复超时", "en": "Late"},
    "column.pending": {"zh": "未结束", "en": "Pending"},
    "column.base": {"zh": "应付基数", "en": "Base"},
    "column.prepaid": {"zh": "已预付", "en": "Prepaid"},
    "column.due": {"zh": "应付", "en": "Due"},
    "column.balance": {"zh": "退补金额", "en": "Refund (−) / top-up (+)"},
    "column.kind": {"zh": "设备类型", "en": "Kind"},
    "column.address": {"zh": "地址", "en": "Address"},
    "column.region": {"zh": "区域", "en": "Region"},
    "column.contract": {"zh": "合同", "en": "Contract"},
    "column.lost_h": {"zh": "离线时长（小时）", "en": "Offline (hours)"},
    "column.id": {"zh": "工单号", "en": "Ticket"},
    "column.fault_class": {"zh": "故障类别", "en": "Class"},
    "column.reason": {"zh": "原因", "en": "Reason"},
    "column.link": {"zh": "链路", "en": "Link"},
    "column.devices": {"zh": "设备", "en": "Devices"},
    "column.detected_at": {"zh": "发现时间", "en": "Detected"},
    "column.response_deadline": {"zh": "响应时限", "en": "Respond by"},
    "column.repair_deadline": {"zh": "修复时限", "en": "Repair by"},
    "column.acknowledged_at": {"zh": "响应时间", "en": "Acknowledged"},
    "column.acknowledged_by": {"zh": "响应人", "en": "By"},
    "column.resolved_at": {"zh": "恢复时间", "en": "Resolved"},
    "column.outcome": {"zh": "结果", "en": "Outcome"},
    "sheet.contracts": {"zh": "合同汇总", "en": "Contracts"},
    "sheet.regions": {"zh": "区域", "en": "Regions"},
    "sheet.devices": {"zh": "设备", "en": "Devices"},
    "sheet.tickets": {"zh": "工单", "en": "Tickets"},
    "unit.device": {"zh": "台", "en": "device"},
    "unit.set": {"zh": "套", "en": "set"},
    "kind.camera": {"zh": "摄像机", "en": "camera"},
    "kind.door_host": {"zh": "门禁主机", "en": "door host"},
    "kind.checkpoint": {"zh": "卡口", "en": "checkpoint"},
    "kind.switch": {"zh": "交换机", "en": "switch"},
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
