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
    "alert.receiver_recovered": {"zh": "告警通道已恢复", "en": "Alert receiver working again"},
    "alert.handed_over": {"zh": "转交告警", "en": "Alert handed over"},
    "alert.store_failing": {
        "zh": "采集器账本磁盘无法写入",
        "en": "Collector's ledger disk takes no writes",
    },
    "alert.store_recovered": {
        "zh": "采集器账本磁盘已恢复写入",
        "en": "Collector's ledger disk takes writes again",
    },
    "alert.agent_clock_off": {"zh": "边缘代理时钟超差", "en": "Edge agent's clock off"},
    "alert.agent_clock_ok": {"zh": "边缘代理时钟已恢复", "en": "Edge agent's clock right again"},
    "label.agent": {"zh": "边缘代理", "en": "Edge agent"},
    "label.clock_offset": {"zh": "时钟偏差", "en": "Clock offset"},
    "label.tolerance": {"zh": "容差", "en": "Tolerance"},
    "label.time_service": {"zh": "时间同步状态", "en": "Time service"},
    "label.off_since": {"zh": "超差开始", "en": "Off since"},
    "time_service.synchronised": {"zh": "已同步", "en": "synchronised"},
    "time_service.unsynchronised": {"zh": "未同步", "en": "not synchronised"},
    "time_service.unknown": {"zh": "未知", "en": "unknown"},
    "time_service.stepped": {"zh": "刚被调整", "en": "just set"},
    "text.clock_held": {
        "zh": "期间该代理所辖设备状态记为未知（不判故障），其数据留存待查、不写入时序库；"
        "请校准该边缘服务器的时间同步（chrony），时钟恢复后自动续收。",
        "en": "Meanwhile its devices are unknown (never down, no fault opened); its statuses "
        "are kept for audit, not written to the time series. Fix the edge server's time "
        "service (chrony); it resumes by itself once the clock is right.",
    },
    "store.locked": {"zh": "账本被其他进程锁定", "en": "ledger locked by another process"},
    "store.disk_full": {"zh": "磁盘已满", "en": "disk full"},
    "store.io_error": {"zh": "磁盘读写错误", "en": "disk I/O error"},
    "label.ledger": {"zh": "账本文件", "en": "Ledger file"},
    "text.store_held": {
        "zh": "未确认的数据由各边缘代理保留，磁盘恢复后自动补收，无需人工重发。",
        "en": "The agents keep what was not acknowledged; it is taken in by itself once "
        "the disk takes writes again.",
    },
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
    "label.channel": {"zh": "通道", "en": "Channel"},
    "label.reason": {"zh": "原因", "en": "Reason"},
    "label.recovered": {"zh": "恢复时间", "en": "Working again"},
    "label.undelivered": {"zh": "未送达告警", "en": "Alerts not delivered"},
    "label.handed_from": {"zh": "原接收人", "en": "Meant for"},
    "text.alerts_count": {"zh": "{count} 条", "en": "{count}"},
    "text.handed_to": {"zh": "已转交{name}", "en": "handed to {name}"},
    "text.more_alerts": {"zh": "另有 {more} 条", "en": "and {more} more"},
    "text.handed_over": {"zh": "【转交】", "en": "[Handed over] "},
    # Alert channels, and why one did not deliver (collector/alerting/channels.py)
    "channel.dingtalk": {"zh": "钉钉机器人", "en": "DingTalk robot"},
    "channel.wecom": {"zh": "企业微信机器人", "en": "WeCom robot"},
    "channel.webhook": {"zh": "Webhook", "en": "webhook"},
    "channel.email": {"zh": "邮件", "en": "e-mail"},
    "delivery.sign_mismatch": {
        "zh": "加签不匹配：密钥可能已更换",
        "en": "signature does not match: the signing secret may have been changed",
    },
    "delivery.timestamp_invalid": {
        "zh": "时间戳被拒：本机时钟可能偏差过大",
        "en": "timestamp refused: this server's clock may be off",
    },
    "delivery.keywords_missing": {
        "zh": "消息不含机器人要求的关键词",
        "en": "the message lacks the keywords the robot requires",
    },
    "delivery.ip_not_allowed": {
        "zh": "本机 IP 不在机器人的白名单内",
        "en": "this server's IP address is not on the robot's allow list",
    },
    "delivery.token_invalid": {
        "zh": "机器人令牌无效：机器人可能已被移除或令牌已更换",
        "en": "robot token not valid: the robot may have been removed or its token changed",
    },
    "delivery.robot_refused": {"zh": "机器人拒收", "en": "the robot refused the message"},
    "delivery.too_long": {"zh": "消息过长被拒收", "en": "refused as too long"},
    "delivery.unauthorized": {
        "zh": "认证被拒：令牌错误或已过期",
        "en": "authorisation refused: the token is wrong or has expired",
    },
    "delivery.not_found": {"zh": "接收地址不存在", "en": "no such address"},
    "delivery.http_refused": {"zh": "接收方拒收", "en": "the receiver refused the alert"},
    "delivery.refused": {"zh": "接收方拒收", "en": "the receiver refused the alert"},
    "delivery.server_error": {"zh": "接收方服务异常", "en": "the receiver's server failed"},
    "delivery.rate_limited": {"zh": "发送过快被限流", "en": "rate-limited"},
    "delivery.mail_refused": {
        "zh": "邮件服务器拒收：收件人或发件人被拒绝",
        "en": "the mail server refused the recipient or the sender",
    },
    "delivery.mail_auth": {"zh": "邮件服务器登录失败", "en": "the mail server refused the login"},
    "delivery.unreachable": {"zh": "无法连接", "en": "cannot be reached"},
    "delivery.timeout": {"zh": "连接超时", "en": "timed out"},
    # A config file's problems (slawatch/config/errors.py) and the inventory's cross-checks
    # (slawatch/config/inventory.py), as the collector, the agent and check-config load it
    "config.got": {"zh": "（填的是 {value}）", "en": " (got {value})"},
    "config.unreadable": {"zh": "无法读取文件（{detail}）", "en": "cannot read file: {detail}"},
    "config.no_file": {"zh": "文件不存在", "en": "cannot read file: no such file"},
    "config.not_utf8": {"zh": "文件不是 UTF-8 文本", "en": "cannot read file: not UTF-8 text"},
    "config.yaml_syntax": {
        "zh": "YAML 格式错误（解析器：{detail}）",
        "en": "invalid YAML: {detail}",
    },
    "config.duplicate_key": {"zh": "键重复", "en": "duplicate key"},
    "config.not_mapping": {
        "zh": "文件顶层应为键值映射（key: value）",
        "en": "expected a mapping at the top of the file",
    },
    "config.kind": {"zh": "文件类型应为以下之一：{kinds}", "en": "kind must be one of {kinds}"},
    "config.kind_here": {
        "zh": "此命令只检查 {kinds} 类文件",
        "en": "this command checks {kinds}",
    },
    "config.nothing": {"zh": "空", "en": "nothing"},
    "config.document": {"zh": "（整个文件）", "en": "(document)"},
    "config.no_policy": {
        "zh": "此处没有考核策略文件（*.yaml）",
        "en": "no policy file (*.yaml) found here",
    },
    "config.policy_not_loaded": {
        "zh": "合同 {contract} 指定的考核策略未加载（已加载：{known}）",
        "en": "contract {contract} names a policy that was not loaded (loaded: {known})",
    },
    "config.ok": {"zh": "{file}：无误（{summary}）", "en": "{file}: ok ({summary})"},
    "keys.exists": {
        "zh": "{path}：文件已存在；密钥从不覆盖",
        "en": "{path}: exists; a key is never overwritten",
    },
    "keys.private_unreadable": {
        "zh": "{path}：无法读取签名私钥：{why}",
        "en": "{path}: cannot read the signing key: {why}",
    },
    "keys.private_not_pem": {
        "zh": "{path}：不是无口令的 PEM 私钥",
        "en": "{path}: not a PEM private key without a passphrase",
    },
    "keys.public_unreadable": {
        "zh": "{path}：无法读取公钥：{why}",
        "en": "{path}: cannot read the public key: {why}",
    },
    "keys.public_not_pem": {"zh": "{path}：不是 PEM 公钥", "en": "{path}: not a PEM public key"},
    "keys.not_ed25519": {"zh": "{path}：不是 Ed25519 密钥", "en": "{path}: not an Ed25519 key"},
    "keys.text_prefix": {
        "zh": "公钥须以 {prefix} 开头",
        "en": "a public key starts with {prefix}",
    },
    "keys.text_base64": {
        "zh": "不是 32 字节 Ed25519 公钥的 base64 编码",
        "en": "not the base64 of a 32-byte Ed25519 public key",
    },
    "keys.written": {
        "zh": "{private}：私钥（权限 0600）；{public}：公钥",
        "en": "{private}: private key (mode 0600); {public}: public key",
    },
    "keys.written_with_id": {
        "zh": "{private}：私钥（权限 0600）；{public}：公钥，编号 {identity}",
        "en": "{private}: private key (mode 0600); {public}: public key, id {identity}",
    },
    "config.inventory_summary": {
        "zh": "台账：设备 {devices} 台，门禁 {sets} 套，链路 {links} 条",
        "en": "inventory: {devices} devices, {sets} door-access sets, {links} links",
    },
    "config.kind.inventory": {"zh": "台账", "en": "inventory"},
    "config.kind.policy": {"zh": "考核策略", "en": "policy"},
    "config.kind.agent": {"zh": "边缘代理配置", "en": "agent"},
    "config.kind.collector": {"zh": "采集器配置", "en": "collector"},
    # pydantic's error types (slawatch/config/schema_words.py)
    "schema.missing": {"zh": "必须填写", "en": "required key is missing"},
    "schema.extra_forbidden": {"zh": "没有这个键{hint}", "en": "unknown key{hint}"},
    "schema.did_you_mean": {"zh": "；是否应为 {name}？", "en": "; did you mean {name}?"},
    "schema.expected_keys": {"zh": "；可用的键：{names}", "en": "; expected one of: {names}"},
    "schema.string_type": {"zh": "应为文字", "en": "expected text"},
    "schema.int_type": {"zh": "应为整数", "en": "expected a whole number"},
    "schema.float_type": {"zh": "应为数字", "en": "expected a number"},
    "schema.bool_type": {"zh": "应为 true 或 false（是/否）", "en": "expected true or false"},
    "schema.literal_error": {"zh": "应为以下之一：{expected}", "en": "expected one of: {expected}"},
    "schema.greater_than": {"zh": "应大于 {gt}", "en": "must be greater than {gt}"},
    "schema.greater_than_equal": {"zh": "应不小于 {ge}", "en": "must be at least {ge}"},
    "schema.less_than": {"zh": "应小于 {lt}", "en": "must be less than {lt}"},
    "schema.less_than_equal": {"zh": "应不大于 {le}", "en": "must be at most {le}"},
    "schema.string_too_short": {
        "zh": "至少 {min_length} 个字符",
        "en": "at least {min_length} characters",
    },
    "schema.string_too_long": {
        "zh": "至多 {max_length} 个字符",
        "en": "at most {max_length} characters",
    },
    "schema.string_pattern_mismatch": {
        "zh": "格式不对（应符合正则 {pattern}）",
        "en": "does not match {pattern}",
    },
    "schema.identifier": {
        "zh": "编号只能由字母、数字及 _ . : - 组成，以字母或数字开头，至多 128 个字符",
        "en": "an id is letters, digits and _ . : -, starting with a letter or digit, "
        "at most 128 characters",
    },
    "schema.too_short": {"zh": "至少 {min_length} 项", "en": "at least {min_length} items"},
    "schema.too_long": {"zh": "至多 {max_length} 项", "en": "at most {max_length} items"},
    "schema.list_type": {"zh": "应为列表", "en": "expected a list"},
    "schema.dict_type": {"zh": "应为键值映射（一节）", "en": "expected a mapping"},
    "schema.date_type": {"zh": "应为日期，如 2026-01-31", "en": "expected a date like 2026-01-31"},
    "schema.datetime_type": {
        "zh": "应为日期时间，如 2026-01-31T08:00:00+08:00",
        "en": "expected a date and time like 2026-01-31T08:00:00+08:00",
    },
    "schema.time_type": {"zh": "应为时刻，如 08:30", "en": "expected a time of day like 08:30"},
    "schema.duration": {
        "zh": "应为时长，如 90s、30m、4h、1d",
        "en": "expected a duration like 90s, 30m, 4h or 1d",
    },
    "schema.url_type": {"zh": "应为 http(s) 网址", "en": "expected an http(s) URL"},
    "schema.ip_any_address": {"zh": "应为 IP 地址", "en": "expected an IP address"},
    "schema.path_type": {"zh": "应为文件路径", "en": "expected a file path"},
    "schema.union_tag_not_found": {
        "zh": "缺少 {discriminator}",
        "en": "{discriminator} is missing",
    },
    "schema.rule": {"zh": "取值不符合要求：{detail}", "en": "not valid: {detail}"},
    "schema.other": {"zh": "取值不符合要求（{kind}）", "en": "not valid ({kind})"},
    # The config models' own rules (raised as Said from their validators)
    "rule.password_without_username": {
        "zh": "填了密码（password）却没有用户名（username）",
        "en": "password given without username",
    },
    "rule.end_after_start": {"zh": "结束时间应晚于开始时间", "en": "end must be after start"},
    "rule.time_zone": {
        "zh": "不是 IANA 时区名（如 Asia/Shanghai）",
        "en": "unknown IANA time zone (such as Asia/Shanghai)",
    },
    "rule.snapshot_times": {
        "zh": "抽查（snapshot）方式至少需要一个 snapshot_times 时刻",
        "en": "the snapshot method needs at least one snapshot_times entry",
    },
    "rule.escalation_first": {
        "zh": "escalation.unacknowledged_after 应早于 response_deadline",
        "en": "escalation.unacknowledged_after must come before response_deadline",
    },
    "rule.probe_window": {
        "zh": "超时 ×（重试次数 + 1）应短于轮询间隔",
        "en": "timeout × (retries + 1) must be shorter than interval",
    },
    "rule.dsn_password": {
        "zh": "postgres：DSN 中含有密码，请另写为 password: {file|env}",
        "en": "postgres: the DSN holds a password; give it as password: {file|env}",
    },
    "rule.secret_inline": {
        "zh": "密钥须写成引用 {env: NAME} 或 {file: PATH}，不能直接写值",
        "en": "secrets must be a reference {env: NAME} or {file: PATH}, not an inline value",
    },
    "rule.env_or_file": {
        "zh": "env 与 file 须且只须填一个",
        "en": "give exactly one of env or file",
    },
    "rule.url_password": {
        "zh": "网址中含有密码：请写成密钥引用",
        "en": "the URL carries a password: give it as a secret reference",
    },
    "rule.url_secret": {
        "zh": "网址中含有 {names}：请写成密钥引用（access_token、key 或 secret："
        "{{env: NAME}} 或 {{file: PATH}}），不要放在网址里",
        "en": "the URL carries {names}: give it as a secret reference (access_token, key or "
        "secret: {{env: NAME}} or {{file: PATH}}), not in the URL",
    },
    "rule.receivers_unique": {
        "zh": "接收人编号重复：{ids}",
        "en": "receiver ids must be unique: {ids}",
    },
    "rule.no_receiver": {"zh": "没有编号为 {ids} 的接收人", "en": "no receiver with id {ids}"},
    "rule.own_fallback": {
        "zh": "接收人不能以自己为后备（fallback）：{ids}",
        "en": "a receiver cannot be its own fallback: {ids}",
    },
    "rule.last_route": {
        "zh": "最后一条路由不能带 match：它接收其他路由都不接的告警",
        "en": "the last route must have no match: it takes every alert no other route takes",
    },
    "rule.email_smtp": {
        "zh": "邮件通道需要 smtp 设置",
        "en": "e-mail channels need smtp settings",
    },
    # A secret's value judged when a process starts and by check-config (never shown)
    "secret.broken": {"zh": "{what}（取自 {ref}）{problem}", "en": "{what} from {ref} {problem}"},
    "secret.env_unset": {
        "zh": "环境变量 {name} 未设置",
        "en": "environment variable {name} is not set",
    },
    "secret.file_unreadable": {
        "zh": "无法读取密钥文件 {file}（{detail}）",
        "en": "cannot read secret file {file}: {detail}",
    },
    "secret.file_not_utf8": {
        "zh": "密钥文件 {file} 不是 UTF-8 文本（请用 '{generate}' 生成）",
        "en": "secret file {file} is not UTF-8 text (write it with {generate})",
    },
    "secret.blank": {"zh": "为空或只有空白", "en": "is empty or only whitespace"},
    "secret.too_short": {
        "zh": "只有 {chars} 个字符，至少需要 {least} 个",
        "en": "has {chars} characters; give at least {least}",
    },
    "secret.session_too_short": {
        "zh": "只有 {chars} 个字符，至少需要 {least} 个（可用 '{generate}' 生成）",
        "en": "has {chars} characters; give at least {least} (make one with {generate})",
    },
    "secret.predictable": {
        "zh": "太容易猜到：估计只有 {bits} 比特熵（长度乘以各字符频率的香农熵），"
        "至少需要 {least} 比特（可用 '{generate}' 生成）",
        "en": "is too predictable: an estimated {bits} bits of entropy (its length times "
        "the Shannon entropy of its characters), at least {least} needed (make one with "
        "{generate})",
    },
    "secret.community_empty": {
        "zh": "为空：请填写设备应答的团体名",
        "en": "is empty: give the community the device answers",
    },
    "secret.snmp_key_short": {
        "zh": "只有 {chars} 个字符；SNMPv3 至少需要 {least} 个（Net-SNMP 不接受更短的）",
        "en": "has {chars} characters; SNMPv3 needs at least {least} (Net-SNMP refuses a "
        "shorter one)",
    },
    "secret.signing_unreadable": {
        "zh": "{file}：无法读取（{detail}）",
        "en": "{file}: cannot read: {detail}",
    },
    "secret.signing_open": {
        "zh": "{file}：其他用户也能读取（权限 {mode}）：请执行 'chmod 600 {file}'",
        "en": "{file}: readable by others (mode {mode}): chmod 600",
    },
    "io.no_such_file": {"zh": "文件不存在", "en": "no such file"},
    "io.denied": {"zh": "没有读取权限", "en": "permission denied"},
    "io.is_directory": {"zh": "这是一个目录", "en": "is a directory"},
    "secret.what.api_token": {"zh": "API 令牌", "en": "the API token"},
    "secret.what.session_secret": {"zh": "会话密钥", "en": "the session secret"},
    "secret.what.broker_password": {"zh": "MQTT 服务器密码", "en": "the broker password"},
    "secret.what.influx_token": {"zh": "时序库令牌", "en": "the InfluxDB token"},
    "secret.what.ledger_password": {"zh": "账本数据库密码", "en": "the ledger database password"},
    "secret.what.alerting.password": {"zh": "邮件服务器密码", "en": "the SMTP password"},
    "secret.what.alerting.access_token": {
        "zh": "钉钉机器人令牌",
        "en": "the DingTalk access_token",
    },
    "secret.what.alerting.secret": {"zh": "钉钉加签密钥", "en": "the DingTalk secret"},
    "secret.what.alerting.key": {"zh": "企业微信机器人密钥", "en": "the WeCom key"},
    "secret.what.alerting.token": {"zh": "Webhook 令牌", "en": "the webhook token"},
    "secret.what.password": {"zh": "设备密码", "en": "the password"},
    "secret.what.snmp_community": {"zh": "SNMP 团体名", "en": "the SNMP community"},
    "secret.what.snmp_auth_key": {"zh": "SNMPv3 认证密钥", "en": "the SNMPv3 auth key"},
    "secret.what.snmp_priv_key": {"zh": "SNMPv3 加密密钥", "en": "the SNMPv3 priv key"},
    "address.not_ipv4": {
        "zh": "不是 IPv4 地址（四个 0-255 的数）",
        "en": "not an IPv4 address (four numbers 0-255)",
    },
    "address.not_ipv6": {"zh": "不是 IPv6 地址", "en": "not an IPv6 address"},
    "address.not_host": {
        "zh": "不是主机名（字母、数字、连字符，以点分隔）",
        "en": "not a host name (letters, digits and hyphens between dots)",
    },
    "inventory.duplicate_id": {"zh": "编号重复", "en": "duplicate id"},
    "inventory.agent_elsewhere": {
        "zh": "该代理已为站点 {site} 上报：一个代理只服务一个站点",
        "en": "agent already reports for site {site}: an agent serves one site",
    },
    "inventory.agent_no_key": {
        "zh": "站点 {site} 的代理 {agent} 未在 sites[{index}].agent_keys 登记公钥：每个代理都须对所发消息签名"
        "（`slawatch-agent keys new` 生成密钥并打印应登记的公钥；仅在迁移期间可设"
        " allow_unsigned_agents: true 暂时放行未签名代理）",
        "en": "agent {agent} of site {site} has no key in sites[{index}].agent_keys: every agent"
        " signs what it sends (`slawatch-agent keys new` prints the public key to register;"
        " only while migrating, allow_unsigned_agents: true lets the site's keyless agents be"
        " heard unsigned)",
    },
    "inventory.unsigned_warning": {
        "zh": "警告：站点 {site} 设置了 allow_unsigned_agents，代理 {agents} 的消息不验签名即接收"
        "（任何能连上消息服务器的人都可冒充它们）；请登记其公钥后去掉该设置",
        "en": "warning: site {site} sets allow_unsigned_agents: agents {agents} are heard"
        " unsigned (anyone on the broker can speak in their name); register their keys and"
        " drop the setting",
    },
    "inventory.not_this_site": {"zh": "不是本站点的代理", "en": "not an agent of this site"},
    "inventory.not_site_agent": {
        "zh": "不是站点 {site} 的代理",
        "en": "not an agent of site {site}",
    },
    "inventory.no_such": {"zh": "没有这个编号的{what}", "en": "no {what} with this id"},
    "inventory.what.site": {"zh": "站点", "en": "site"},
    "inventory.what.agent": {"zh": "代理", "en": "agent"},
    "acl.shared": {
        "zh": "{what} {name} 同时出现在第 {first} 和第 {second} 个台账中：共用消息服务器的各辖区不得共用站点或代理",
        "en": "{what} {name} is in inventories {first} and {second}: districts sharing a broker"
        " share no site and no agent",
    },
    "inventory.what.region": {"zh": "区域", "en": "region"},
    "inventory.what.contract": {"zh": "合同", "en": "contract"},
    "inventory.what.phase": {"zh": "建设期", "en": "phase"},
    "inventory.what.link": {"zh": "链路", "en": "link"},
    "inventory.what.credentials": {"zh": "凭据", "en": "credentials"},
    "inventory.what.switch": {"zh": "交换机", "en": "switch"},
    "inventory.what.door_host": {"zh": "门禁主机", "en": "door_host device"},
    "inventory.what.camera": {"zh": "摄像机", "en": "camera device"},
    "inventory.end_before_start": {
        "zh": "停用日期早于启用日期（{start}）",
        "en": "service_end is before service_start ({start})",
    },
    "inventory.few_ports": {
        "zh": "交换机 {switch} 只有 {ports} 个端口",
        "en": "switch {switch} has only {ports} ports",
    },
    "inventory.in_other_set": {
        "zh": "该设备已属于门禁 {set}",
        "en": "device already belongs to set {set}",
    },
    "inventory.no_probe": {
        "zh": "设备至少需要 onvif、snmp、tcp 之一才能探测",
        "en": "a device needs at least one of onvif, snmp or tcp to be probed",
    },
    "inventory.needs_snmp": {
        "zh": "这类设备通过 SNMP 监测：请添加 snmp 一节",
        "en": "this kind is watched over SNMP: add an snmp section",
    },
    "inventory.switch_ports": {"zh": "交换机需要填写端口数（ports）", "en": "a switch needs ports"},
    "inventory.switch_only": {
        "zh": "只有交换机有这一项；其他设备用 uplink",
        "en": "only switches have this; other devices use uplink",
    },
    "inventory.uplink_both": {
        "zh": "上联只填链路，或只填交换机和端口，不能都填",
        "en": "give either link, or switch and port, not both",
    },
    "inventory.uplink_neither": {
        "zh": "上联要填链路，或交换机和端口",
        "en": "give either link, or switch and port",
    },
    # slawatch-collector inventory import (collector/onboarding/inventory_import.py)
    "import.no_mapping": {
        "zh": "「{cell}」没有对应的取值：请在列映射的 values.{field} 下添加",
        "en": "no value mapping for {cell!r}; add it under values.{field}",
    },
    "import.missing": {
        "zh": "必填，但这一格是空的（映射一列或在列映射中设默认值）",
        "en": "required value is missing (map a column or set a default)",
    },
    "import.invalid": {"zh": "取值不合要求：{detail}", "en": "not valid: {detail}"},
    "import.not_text": {
        "zh": "不是 UTF-8、GBK/GB18030 或 Big5 编码的文本",
        "en": "not text in UTF-8, GBK/GB18030 or Big5",
    },
    "import.look_alike": {
        "zh": "地址中有形近字符（{what}）：是否应为 {meant}？",
        "en": "look-alike characters in the address ({what}): did you mean {meant}?",
    },
    "import.look_alike.letter_o": {"zh": "字母 O 当作了 0", "en": "letter O for 0"},
    "import.look_alike.letter_l": {"zh": "字母 l/I 当作了 1", "en": "letter l or I for 1"},
    "import.look_alike.full_width": {"zh": "全角数字或句点", "en": "full-width digits or dots"},
    "import.duplicate_address": {
        "zh": "地址 {address} 与第 {first} 行重复（去掉首尾空格后相同）",
        "en": "address {address} is also on row {first} (the same once spaces are trimmed)",
    },
    "import.near_name": {
        "zh": "「{name}」与「{meant}」（{count} 行）相近：是否应为「{meant}」？",
        "en": "{name!r} is close to {meant!r} ({count} rows): did you mean {meant!r}?",
    },
    "import.fiber_blank": {
        "zh": "链路「{link}」的备用光纤为空：它决定修复时限与扣款，请填 是/否，"
        "或在列映射 defaults 中写明 backup_fiber",
        "en": "backup fibre of link {link!r} is blank: it decides the repair deadline and "
        "the deductions; fill in yes/no, or state backup_fiber under the map's defaults",
    },
    "import.fiber_not_yes_no": {
        "zh": "不是 是/否（是/否、有/无、Y/N、1/0）",
        "en": "not a yes or no (是/否, 有/无, Y/N, 1/0)",
    },
    "import.fiber_opposite": {
        "zh": "与第 {first} 行对链路「{link}」的填写相反",
        "en": "row {first} says the opposite for link {link!r}",
    },
    "import.no_switch": {
        "zh": "台账中没有这个编号或名称的交换机",
        "en": "no switch with this id or name in the ledger",
    },
    "import.no_port": {
        "zh": "挂在交换机上的设备需要填写端口",
        "en": "a device on a switch needs its port",
    },
    "import.set_has_host": {
        "zh": "门禁「{set}」已有门禁主机 {host}",
        "en": "set {set!r} already has door host {host}",
    },
    "import.set_member": {
        "zh": "只有门禁主机和摄像机属于门禁",
        "en": "only door hosts and cameras belong to a set",
    },
    "import.set_lacks_host": {
        "zh": "门禁「{set}」没有门禁主机（第 {rows} 行）",
        "en": "set {set!r} has no door host (rows {rows})",
    },
    "import.set_lacks_camera": {
        "zh": "门禁「{set}」没有摄像机（第 {rows} 行）",
        "en": "set {set!r} has no camera (rows {rows})",
    },
    "import.column_missing": {
        "zh": "表头中没有这一列（列映射中的 {field}）",
        "en": "column not found in the header (the map's {field})",
    },
    "import.header_none": {
        "zh": "第 {row} 行不是表头：没有列映射中的任何一列（{columns}）",
        "en": "header_row {row} has none of the mapped columns ({columns})",
    },
    "import.header_hint": {
        "zh": "；第 {row} 行有其中 {count} 列：设 header_row: {row}",
        "en": "; row {row} has {count} of them: set header_row: {row}",
    },
    "import.more": {"zh": "…… 另有 {more} 个问题", "en": "… and {more} more problems"},
    "import.totals_skipped": {
        "zh": "第 {row} 行是合计行（「{cell}」），已跳过",
        "en": "row {row} is a totals row ({cell!r}): skipped",
    },
    "import.read_as": {"zh": "{file}：按 {encoding} 编码读取", "en": "{file}: read as {encoding}"},
    "import.written": {
        "zh": "{file}：已写入台账中的 {count} 台设备",
        "en": "{file}: {count} devices from the ledger written",
    },
    "import.would_change": {
        "zh": "{file}：{count} 台设备将变更（新增 {added}，离开台账 {removed}，修改 {changed}）；"
        "加 --apply 写入",
        "en": "{file}: {count} devices would change ({added} added, {removed} removed, "
        "{changed} changed); --apply writes them",
    },
    "import.summary": {
        "zh": "共 {devices} 台设备：{kinds}；区域 {regions} 个，链路 {links} 条，门禁 {sets} 套；"
        "合同：{contracts}",
        "en": "{devices} devices: {kinds}; {regions} regions, {links} links, {sets} sets; "
        "contracts: {contracts}",
    },
    "import.added": {"zh": "+ 新增 {device}", "en": "+ added {device}"},
    "import.removed": {
        "zh": "- 离开台账 {device}（设停用日期，历史保留）",
        "en": "- left the ledger {device} (service_end set, history kept)",
    },
    "import.changed": {
        "zh": "~ 修改 {device}：{field} {old} → {new}",
        "en": "~ changed {device}: {field} {old} → {new}",
    },
    "import.device_row": {
        "zh": "{name}（{address}，第 {row} 行）",
        "en": "{name} ({address}, row {row})",
    },
    "import.device": {"zh": "{name}（{address}）", "en": "{name} ({address})"},
    # slawatch-collector sla --format table (collector/sla/render.py)
    "sla.heading": {
        "zh": "{start} → {end}{progress}  按{group_by}分组  {judged}",
        "en": "{start} → {end}{progress}  by {group_by}  {judged}",
    },
    "sla.in_progress": {
        "zh": "（进行中：统计至 {end}，{scheduled_end} 结束）",
        "en": "  in progress: measured to {end}, ends {scheduled_end}",
    },
    "sla.policy": {
        "zh": "{name}（{method}，{unknown}{imposed}）",
        "en": "{name} ({method}, {unknown}{imposed})",
    },
    "sla.imposed": {"zh": "，所有合同均按此规则", "en": ", imposed on every contract"},
    "sla.group": {"zh": "分组", "en": "group"},
    "sla.units": {"zh": "数量", "en": "units"},
    "sla.online": {"zh": "在线率", "en": "online"},
    "sla.coverage": {"zh": "覆盖率", "en": "coverage"},
    "sla.intact": {"zh": "完好率", "en": "intact"},
    "sla.tickets": {"zh": "工单", "en": "tickets"},
    "sla.late": {"zh": "超时", "en": "late"},
    "sla.pending": {"zh": "未结", "en": "pending"},
    "sla.response": {"zh": "响应及时", "en": "response"},
    "sla.repair": {"zh": "修复及时", "en": "repair"},
    "sla.due": {"zh": "应付", "en": "due"},
    "sla.balance": {"zh": "退补", "en": "balance"},
    "sla.targets": {"zh": "考核目标", "en": "targets"},
    "sla.all_met": {"zh": "全部达标", "en": "met"},
    "sla.missed": {"zh": "未达标：{figures}", "en": "missed: {figures}"},
    "sla.total": {"zh": "合计（{currency}）", "en": "total ({currency})"},
    "sla.provisional": {"zh": "（暂估）", "en": "  provisional"},
    "dim.contract": {"zh": "合同", "en": "contract"},
    "dim.region": {"zh": "区域", "en": "region"},
    "dim.station": {"zh": "派出所", "en": "station"},
    "dim.class": {"zh": "点位类别", "en": "class"},
    "dim.kind": {"zh": "设备类型", "en": "kind"},
    "dim.phase": {"zh": "建设期", "en": "phase"},
    "dim.vendor": {"zh": "品牌", "en": "vendor"},
    "dim.set": {"zh": "门禁", "en": "set"},
    "dim.device": {"zh": "设备", "en": "device"},
    "dim.all": {"zh": "全部", "en": "all"},
    # slawatch-collector faults (collector/cli.py)
    "faults.id": {"zh": "工单号", "en": "ticket"},
    "faults.class": {"zh": "类别", "en": "class"},
    "faults.reason": {"zh": "原因", "en": "reason"},
    "faults.devices": {"zh": "设备数", "en": "devices"},
    "faults.detected": {"zh": "发现时间", "en": "detected"},
    "faults.repair_by": {"zh": "修复时限", "en": "repair by"},
    "faults.acknowledged": {"zh": "响应人", "en": "acknowledged by"},
    "faults.count": {"zh": "{count} 台", "en": "{count}"},
    "faults.none": {"zh": "无未结工单", "en": "no open tickets"},
    "faults.acked": {
        "zh": "{id}：已由 {by} 于 {when} 响应",
        "en": "{id}: acknowledged by {by} at {when}",
    },
    "faults.unreachable": {
        "zh": "无法连接采集服务 {base}：{error}",
        "en": "cannot reach the collector at {base}: {error}",
    },
    "faults.no_api": {
        "zh": "{file}：没有 api 配置段，采集服务不提供接口",
        "en": "{file}: no api section: the collector serves no API",
    },
    # A standby collector's console and API, served read-only (collector/web/standby.py)
    "standby.banner": {
        "zh": "备用采集服务（双机热备）· 只读：账本由主用采集服务写入，本机显示其最近提交的内容，"
        "并在其停止后 {lease} 秒内接管。确认故障、报备、审批等操作请到主用采集服务的控制台。",
        "en": "Standby collector (hot standby) · read-only: the active collector writes the "
        "ledger; this one shows what it last committed and takes over within {lease} s of "
        "it stopping. Acknowledge, request and approve on the active collector's console.",
    },
    "refused.standby": {
        "zh": "本机是备用采集服务，只读：此操作未执行。请到主用采集服务上操作。",
        "en": "This is the standby collector, read-only: nothing was done. Do this on the "
        "active collector.",
    },
    # slawatch-agent probe
    "probe.device": {"zh": "设备", "en": "device"},
    "probe.health": {"zh": "状态", "en": "health"},
    "probe.reason": {"zh": "原因", "en": "reason"},
    "probe.took": {"zh": "耗时", "en": "took"},
    "probe.check": {"zh": "检查项", "en": "check"},
    "probe.result": {"zh": "结果", "en": "result"},
    "probe.metric": {"zh": "指标", "en": "metric"},
    "probe.value": {"zh": "数值", "en": "value"},
    "probe.address": {"zh": "地址", "en": "address"},
    "probe.uplink": {"zh": "上联", "en": "uplink"},
    "probe.port": {"zh": "端口", "en": "port"},
    "discover.status": {"zh": "结论", "en": "status"},
    "discover.device": {"zh": "设备", "en": "device"},
    "discover.address": {"zh": "地址", "en": "address"},
    "discover.listed": {"zh": "台账型号", "en": "listed model"},
    "discover.answered": {"zh": "应答型号", "en": "answered model"},
    "discover.ok": {"zh": "一致", "en": "ok"},
    "discover.silent": {"zh": "无应答", "en": "silent"},
    "discover.unlisted": {"zh": "台账未列", "en": "unlisted"},
    "discover.model": {"zh": "型号不符", "en": "model differs"},
    "discover.no_model": {"zh": "无型号可比", "en": "no model to compare"},
    "discover.unasked": {"zh": "不在探测范围", "en": "not in the range asked"},
    "discover.column.status": {"zh": "结论", "en": "status"},
    "discover.column.device_id": {"zh": "设备编号", "en": "device_id"},
    "discover.column.name": {"zh": "设备名称", "en": "name"},
    "discover.column.address": {"zh": "IP地址", "en": "address"},
    "discover.column.listed_model": {"zh": "台账型号", "en": "listed_model"},
    "discover.column.answered_model": {"zh": "应答型号", "en": "answered_model"},
    "discover.column.serial": {"zh": "序列号", "en": "serial"},
    "discover.column.xaddr": {"zh": "服务地址", "en": "xaddr"},
    "discover.unasked_hint": {
        "zh": "{count} 台不在本机网段或 --subnet 范围内，未探测（组播不跨网段）：用 --subnet 指定其网段",
        "en": "{count} not in this server's networks or a --subnet range, so not asked "
        "(multicast stays in its subnet): give their range with --subnet",
    },
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
    "report.zone_beijing": {"zh": "北京时间 (UTC+8)", "en": "Beijing time (UTC+8)"},
    "report.zone_offset": {"zh": "{zone}（UTC{offset}）", "en": "{zone} (UTC{offset})"},
    "report.policy_of": {"zh": "考核规则：{policy}", "en": "rules: {policy}"},
    "report.target_line": {"zh": "{name} 目标 {target}", "en": "{name} target {target}"},
    "report.device_more": {"zh": "等 {count} 台", "en": "({count} in all)"},
    "report.fault": {"zh": "故障", "en": "Fault"},
    "report.response": {"zh": "响应（时限）", "en": "Response (deadline)"},
    "report.repair": {"zh": "修复（时限）", "en": "Repair (deadline)"},
    "report.by": {"zh": "{name} 响应", "en": "by {name}"},
    "report.not_acknowledged": {"zh": "未响应", "en": "not acknowledged"},
    "report.not_resolved": {"zh": "未恢复", "en": "not resolved"},
    "report.deadline": {"zh": "时限 {moment}", "en": "by {moment}"},
    "report.chart_response": {"zh": "响应", "en": "response"},
    "report.chart_repair": {"zh": "修复", "en": "repair"},
    "report.ledger": {"zh": "台账链", "en": "Ledger chain"},
    "report.ledger_head": {
        "zh": "共 {rows} 行，链头 {head}",
        "en": "{rows} rows, head {head}",
    },
    "report.ledger_slice": {
        "zh": "第 {first}–{last} 行（{rows} 行，始于本期前的零点快照），链头 {head}",
        "en": "rows {first}–{last} ({rows}, from the midnight snapshot before the period), head {head}",
    },
    "report.signed_by": {"zh": "签名密钥 {key_id}", "en": "signed with key {key_id}"},
    "report.unsigned": {"zh": "未签名", "en": "not signed"},
    "report.contracts": {"zh": "各合同考核指标", "en": "Figures per contract"},
    "report.policy_rules": {"zh": "考核规则", "en": "The rules applied"},
    "report.settlement": {"zh": "服务费结算", "en": "Settlement"},
    "report.trend": {"zh": "每日在线率", "en": "Online rate per day"},
    "report.tickets_chart": {
        "zh": "故障工单（按类别，响应与修复是否按时）",
        "en": "Tickets by class: response and repair in time or late",
    },
    "report.worst_devices": {"zh": "离线时间最长的设备", "en": "Devices offline longest"},
    "report.devices_listed": {
        "zh": "设备表（devices.csv、工作簿“设备”页）列出本期有离线、降级或工单的 {listed} 个单元；"
        "其余 {steady} 个单元全程在线且无工单，不逐一列出（inventory.yaml 载有全部设备）。",
        "en": "The devices table (devices.csv, the workbook's Devices sheet) lists the {listed} "
        "units with downtime, degradation or a ticket in the period; the other {steady} were "
        "online throughout with no ticket and are not listed one by one (inventory.yaml names "
        "every device).",
    },
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
    "column.base": {"zh": "应付基数（CNY）", "en": "Base (CNY)"},
    "column.prepaid": {"zh": "已预付（CNY）", "en": "Prepaid (CNY)"},
    "column.due": {"zh": "应付（CNY）", "en": "Due (CNY)"},
    "column.balance": {
        "zh": "退补金额（CNY；正数补付乙方，负数退还甲方）",
        "en": "Balance (CNY; + top-up to the contractor, − refund to the bureau)",
    },
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
    # Evidence: tickets per contract, settlement explained, anchoring (issue 27)
    "sheet.ticket_contracts": {"zh": "工单分合同", "en": "Tickets by contract"},
    "sheet.exemptions": {"zh": "考核豁免", "en": "Exemptions"},
    "sheet.exemption_effects": {"zh": "豁免影响", "en": "Exemption effects"},
    "column.what": {"zh": "豁免类别", "en": "What"},
    "column.scope": {"zh": "范围", "en": "Scope"},
    "column.start": {"zh": "开始", "en": "Start"},
    "column.end": {"zh": "结束", "en": "End"},
    "column.cause": {"zh": "原因类别", "en": "Cause"},
    "column.requested_by": {"zh": "申请人", "en": "Requested by"},
    "column.requested_at": {"zh": "申请时间", "en": "Requested at"},
    "column.back_dated": {"zh": "补报", "en": "Back-dated"},
    "column.status": {"zh": "审批状态", "en": "Status"},
    "column.decided_by": {"zh": "审批人", "en": "Decided by"},
    "column.decided_at": {"zh": "审批时间", "en": "Decided at"},
    "column.decision_note": {"zh": "审批意见", "en": "Decision note"},
    "column.exemption": {"zh": "豁免编号", "en": "Exemption"},
    "column.units_without": {"zh": "无此豁免：计量单位数", "en": "Units without it"},
    "column.online_rate_without": {"zh": "无此豁免：在线率", "en": "Online rate without it"},
    "column.tickets_without": {"zh": "无此豁免：工单数", "en": "Tickets without it"},
    "column.response_timeliness_rate_without": {
        "zh": "无此豁免：响应及时率",
        "en": "Response timeliness without it",
    },
    "column.repair_timeliness_rate_without": {
        "zh": "无此豁免：修复及时率",
        "en": "Repair timeliness without it",
    },
    "column.due_without": {"zh": "无此豁免：应付（CNY）", "en": "Due without it (CNY)"},
    "column.balance_without": {"zh": "无此豁免：退补（CNY）", "en": "Balance without it (CNY)"},
    "column.due_change": {"zh": "应付金额变化（CNY）", "en": "Change in due (CNY)"},
    "exemption.what.maintenance": {"zh": "维护窗口", "en": "maintenance window"},
    "exemption.what.service_end": {"zh": "设备停止服务", "en": "end of service"},
    "exemption.what.ticket": {"zh": "工单免责", "en": "ticket excluded"},
    "exemption.what.inventory": {"zh": "台账补录变更", "en": "back-dated inventory change"},
    "exemption.cause.demolition": {"zh": "拆迁", "en": "demolition"},
    "exemption.cause.removal": {"zh": "拆除/撤点", "en": "removal"},
    "report.exemptions": {"zh": "考核豁免", "en": "Exemptions"},
    "report.exemptions_rule": {
        "zh": "豁免（维护窗口、设备停止服务、工单免责）由乙方申请，经甲方批准后才计入考核；下表列出本期涉及的全部申请，含待审批与已驳回的。",
        "en": "Exemptions (maintenance windows, ends of service, excluded tickets) are requested by the contractor and count only once the bureau approves them; every request touching this period is listed, pending and rejected ones included.",
    },
    "report.exemption_effects": {
        "zh": "已批准豁免的影响",
        "en": "What each approved exemption changed",
    },
    "report.exemption_effects_rule": {
        "zh": "每项已批准豁免：各合同计入该豁免与不计入该豁免（其余豁免不变）时的考核数据与金额；应付金额变化 = 计入 − 不计入。",
        "en": "For each approved exemption: each contract's figures and money with it and without it (the other exemptions kept); change in due = with − without.",
    },
    "report.exemption_no_effect": {
        "zh": "已批准的豁免未改变任何合同的考核数据。",
        "en": "No approved exemption changed any contract's figures.",
    },
    "report.exemption_period": {"zh": "起止", "en": "From – to"},
    "report.with_without": {"zh": "计入 / 不计入", "en": "with / without"},
    "report.no_exemptions": {
        "zh": "本期无豁免申请。",
        "en": "No exemption was requested for this period.",
    },
    "column.response_outcome": {"zh": "响应结果", "en": "Response"},
    "column.measure": {"zh": "计量", "en": "Measure"},
    "column.online": {"zh": "在线量", "en": "Online"},
    "column.counted": {"zh": "计入量", "en": "Counted"},
    "measure.ms": {"zh": "毫秒", "en": "ms"},
    "measure.inspections": {"zh": "巡检次数", "en": "inspections"},
    "response.in_time": {"zh": "按时响应", "en": "responded in time"},
    "response.late": {"zh": "响应超时", "en": "responded late"},
    "response.pending": {"zh": "未到时限", "en": "not yet due"},
    "settle.heading": {"zh": "结算说明", "en": "How each contract is settled"},
    "settle.sign": {
        "zh": "金额单位均为人民币元（CNY）。退补金额 = 应付 − 已预付：正数为“补”，由甲方补付乙方；负数为“退”，由乙方退还甲方。",
        "en": "All amounts in CNY. Balance = due − prepaid: positive is a top-up paid to the contractor, negative a refund to the bureau.",
    },
    "settle.money_on.pro_rata": {
        "zh": "计费指标：仅在线率，按在线率比例结算",
        "en": "Money follows the online rate only, pro rata",
    },
    "settle.money_on.full_above_target": {
        "zh": "计费指标：仅在线率，达标全额结算，未达标按在线率比例结算",
        "en": "Money follows the online rate only: in full at or above the target, pro rata below it",
    },
    "settle.pro_rata": {
        "zh": "应付 = 基数 {base} × 在线率 {rate} = {due}",
        "en": "due = base {base} × online rate {rate} = {due}",
    },
    "settle.full_met": {
        "zh": "在线率 {rate} 达到目标 {target}，全额结算：应付 = 基数 = {due}",
        "en": "online rate {rate} meets the target {target}: due = base = {due}",
    },
    "settle.full_missed": {
        "zh": "在线率 {rate} 低于目标 {target}，按比例结算：应付 = 基数 {base} × 在线率 = {due}",
        "en": "online rate {rate} is under the target {target}: due = base {base} × online rate = {due}",
    },
    "settle.prepaid": {
        "zh": "已预付 = 基数 × {prepay} = {prepaid}",
        "en": "prepaid = base × {prepay} = {prepaid}",
    },
    "settle.balance_top_up": {
        "zh": "退补金额 = 应付 − 已预付 = {amount}：补，由甲方补付乙方",
        "en": "balance = due − prepaid = {amount}: a top-up, paid to the contractor",
    },
    "settle.balance_refund": {
        "zh": "退补金额 = 应付 − 已预付 = −{amount}：退，由乙方退还甲方",
        "en": "balance = due − prepaid = −{amount}: a refund, paid back to the bureau",
    },
    "settle.balance_none": {
        "zh": "应付等于已预付：无需退补",
        "en": "due equals prepaid: nothing changes hands",
    },
    "settle.reported": {
        "zh": "{figures} 仅作考核报告，不影响金额：本合同的考核规则未规定相应扣款",
        "en": "{figures}: reported, not paid on (the policy sets no deduction for them)",
    },
    "settle.verdict": {"zh": "（{verdict}）", "en": " ({verdict})"},
    "settle.top_up": {"zh": "补 {amount}", "en": "top-up {amount}"},
    "settle.balance_column": {"zh": "退补金额（CNY）", "en": "Balance (CNY)"},
    "report.shared_tickets": {
        "zh": "一张工单涉及多个合同时，各合同按各自考核规则的时限判定（结果栏逐一列出）；修复时限栏为工单开立时最严的时限。每张工单在各合同的时限与结果见 ticket_contracts.csv，其设备见 tickets.csv 的设备栏（各设备所属合同见 devices.csv）。",
        "en": "A ticket counted in several contracts is judged by each contract's own deadlines (the outcome column lists each); the repair-by column is the strictest at opening. Each contract's deadlines and verdicts per ticket are in ticket_contracts.csv, its devices in tickets.csv (each device's contract in devices.csv).",
    },
    "settle.refund": {"zh": "退 {amount}", "en": "refund {amount}"},
    "report.anchor": {"zh": "签名链头", "en": "Signed head"},
    "report.anchored": {
        "zh": "第 {first}–{seq} 行由第 {seq} 行的签名链头覆盖（密钥 {key_id}{by_export}）",
        "en": "rows {first}–{seq} are covered by the signed head of row {seq} (key {key_id}{by_export})",
    },
    "report.anchored_by_export": {"zh": "，本次导出时签署", "en": ", signed by this export"},
    "report.unanchored": {
        "zh": "第 {first}–{last} 行（{count} 行）未被任何签名链头覆盖：导出时未提供签名密钥",
        "en": "rows {first}–{last} ({count}) are covered by no signed head: the export was given no signing key",
    },
    # The console (collector/web/console)
    "console.title": {"zh": "视频监控运维值班台", "en": "Video network operations console"},
    "console.wall": {"zh": "总览", "en": "Wall"},
    "console.faults": {"zh": "故障", "en": "Faults"},
    "console.devices": {"zh": "设备", "en": "Devices"},
    "console.sla": {"zh": "考核", "en": "SLA"},
    "console.maintenance": {"zh": "维护与豁免", "en": "Maintenance and exemptions"},
    "console.api": {"zh": "接口文档", "en": "API"},
    "console.login": {"zh": "登录", "en": "Log in"},
    "console.logout": {"zh": "退出", "en": "Log out"},
    "console.user": {"zh": "用户名", "en": "User"},
    "console.password": {"zh": "密码", "en": "Password"},
    "console.login_failed": {"zh": "用户名或密码错误", "en": "Wrong user or password"},
    "console.language": {"zh": "English", "en": "中文"},
    "console.now_online": {"zh": "当前在线", "en": "Online now"},
    "console.today": {"zh": "今日在线率", "en": "Online rate today"},
    "console.target": {"zh": "目标", "en": "target"},
    "console.regions": {"zh": "各区域当前在线", "en": "Regions online now"},
    "console.open_faults": {"zh": "未恢复故障", "en": "Open faults"},
    "console.agents": {"zh": "采集节点", "en": "Edge agents"},
    "console.agent_ok": {"zh": "正常", "en": "reporting"},
    "console.agent_silent": {
        "zh": "失联（设备状态未知）",
        "en": "silent (its devices are unknown)",
    },
    "console.agent_never": {"zh": "未上报", "en": "not heard yet"},
    "console.agent_clock": {"zh": "时钟偏差 {offset}", "en": "clock {offset}"},
    "console.agent_unsigned": {
        "zh": "未签名接收（迁移期放行 allow_unsigned_agents）：任何能连上消息服务器的人都可冒充它，请登记其公钥",
        "en": "heard unsigned (allow_unsigned_agents, for migration): anyone on the broker can"
        " speak in its name; register its key",
    },
    "console.agent_clock_bad": {"zh": "时钟超差", "en": "clock off"},
    "console.agent_clock_off": {
        "zh": "时钟偏差 {offset}，超出容差：设备状态未知，数据留存待查",
        "en": "clock off by {offset}, beyond the tolerance: its devices unknown, its data kept aside",
    },
    "console.agent_busy": {"zh": "过载", "en": "overloaded"},
    "console.agent_overloaded": {
        "zh": "采集节点过载：本周期 {stalled} 个结果作废（采集节点卡顿），相关设备状态未知",
        "en": "Agent overloaded: {stalled} results discarded this cycle (the agent stalled); "
        "those devices unknown",
    },
    "console.agent_load": {
        "zh": "近 {window} 秒：迟发探测 {late} 次，漏检周期 {missed} 次，"
        "推迟深度检查 {deferred} 次，事件循环最长卡顿 {lag} 秒",
        "en": "last {window} s: {late} probes started late, {missed} cycles missed, "
        "{deferred} deep checks put off, longest loop stall {lag} s",
    },
    "console.clock_held": {"zh": "时钟偏差留存批次", "en": "Batches kept aside (agent clock off)"},
    "console.conflicts": {"zh": "序号冲突批次", "en": "Batches conflicting on seq"},
    "console.unsigned": {"zh": "签名无效拒收", "en": "Refused: not signed by the agent"},
    "console.last_heard": {"zh": "最近上报", "en": "Last heard"},
    "console.delivery": {"zh": "数据完整性", "en": "Delivery"},
    "console.gaps": {"zh": "缺失批次", "en": "Missing batches"},
    "console.batches_lost": {
        "zh": "丢失批次（对应时段计为未知）",
        "en": "Batches lost (their span counts as unknown)",
    },
    "console.clock_refused": {"zh": "时钟超差拒收", "en": "Refused for clock"},
    "console.dead_letters": {"zh": "拒收消息", "en": "Refused messages"},
    "console.alerts_failing": {"zh": "告警发送失败", "en": "Alert deliveries failing"},
    "console.deliveries": {"zh": "告警送达", "en": "Alert deliveries"},
    "console.channels_failing": {"zh": "故障的告警通道", "en": "Alert channels failing"},
    "console.reaching_no_one": {
        "zh": "告警无法送达任何人",
        "en": "Alerts are reaching no one",
    },
    "console.fallback_told": {"zh": "已通知备用接收人", "en": "Fallback told"},
    "console.not_yet": {"zh": "尚未", "en": "not yet"},
    "console.undelivered": {"zh": "未送达的告警", "en": "Alerts not delivered"},
    "console.alert_time": {"zh": "告警时间", "en": "Alert time"},
    "console.alert_kind": {"zh": "告警", "en": "Alert"},
    "console.outcome": {"zh": "状态", "en": "Status"},
    "console.outcome_refused": {"zh": "被拒收", "en": "refused"},
    "console.outcome_pending": {"zh": "等待重试", "en": "waiting, retried"},
    "console.outcome_abandoned": {
        "zh": "放弃（恢复后仍被拒收）",
        "en": "given up (refused after recovery)",
    },
    "console.handed_to": {"zh": "转交", "en": "Handed to"},
    "console.reached": {"zh": "已收到", "en": "Reached"},
    "console.nobody": {"zh": "无人收到", "en": "nobody"},
    "console.none": {"zh": "无", "en": "none"},
    "console.store": {"zh": "账本磁盘", "en": "Ledger disk"},
    "console.store_ok": {"zh": "正常写入", "en": "taking writes"},
    "console.store_since": {"zh": "自 {since} 起", "en": "since {since}"},
    "console.store_held": {
        "zh": "{count} 条消息暂不确认，由代理保留",
        "en": "{count} messages held unacknowledged, kept by the agents",
    },
    "console.unacknowledged": {"zh": "未响应", "en": "not acknowledged"},
    "console.respond_in": {"zh": "响应剩余", "en": "Respond in"},
    "console.repair_in": {"zh": "修复剩余", "en": "Repair in"},
    "console.overdue": {"zh": "已超时", "en": "overdue"},
    "console.acknowledge": {"zh": "响应", "en": "Acknowledge"},
    "console.note": {"zh": "备注", "en": "Note"},
    "console.acknowledged_by": {"zh": "{by} 于 {at} 响应", "en": "acknowledged by {by} at {at}"},
    "console.acknowledged_at": {"zh": "已于 {at} 响应", "en": "acknowledged at {at}"},
    "console.login_locked": {
        "zh": "登录失败次数过多，已暂时锁定：请稍后再试，或请管理员解除",
        "en": "Too many failed logins: locked for a while; try later or ask an admin to lift it",
    },
    "console.security": {"zh": "登录安全", "en": "Security"},
    "console.sessions_open": {"zh": "当前登录会话：{count} 个", "en": "Sessions open: {count}"},
    "console.lockouts": {"zh": "登录锁定", "en": "Lockouts"},
    "console.lockout_key": {"zh": "用户或地址", "en": "User or address"},
    "console.lockout_failures": {"zh": "失败次数", "en": "Failures"},
    "console.lockout_left": {"zh": "剩余锁定", "en": "Locked for"},
    "console.lift": {"zh": "解除", "en": "Lift"},
    "console.end_sessions": {"zh": "结束该用户的全部会话", "en": "End every session of a user"},
    "console.history": {"zh": "工单记录", "en": "History"},
    "console.devices_count": {"zh": "{count} 台设备", "en": "{count} devices"},
    "console.cause_switch": {
        "zh": "交换机 {name} 宕机：其后 {count} 台设备",
        "en": "switch {name} down: {count} devices behind it",
    },
    "console.cause_link": {
        "zh": "链路 {name}（{fiber}，{hours} 小时内修复）：{count} 台设备",
        "en": "link {name} ({fiber}, repair within {hours} h): {count} devices",
    },
    "console.fiber_yes": {"zh": "有备用光纤", "en": "backup fibre"},
    "console.fiber_no": {"zh": "无备用光纤", "en": "no backup fibre"},
    "console.fiber_unknown": {"zh": "备用光纤未登记", "en": "backup fibre not recorded"},
    "console.no_agent": {"zh": "无采集节点上报", "en": "no agent reports"},
    "console.state": {"zh": "状态", "en": "State"},
    "console.all": {"zh": "全部", "en": "all"},
    "console.search": {"zh": "编号、名称或地址", "en": "id, name or address"},
    "console.filter": {"zh": "筛选", "en": "Filter"},
    "console.page": {
        "zh": "第 {page} / {pages} 页，共 {count} 台",
        "en": "page {page} of {pages}, {count} devices",
    },
    "console.previous": {"zh": "上一页", "en": "Previous"},
    "console.next": {"zh": "下一页", "en": "Next"},
    "console.timeline": {"zh": "状态时间线（近 7 天）", "en": "State timeline (last 7 days)"},
    "console.checks": {"zh": "当前检查", "en": "Current checks"},
    "console.last_seen": {"zh": "最近观测", "en": "Last observed"},
    "console.tickets": {"zh": "相关工单", "en": "Tickets"},
    "console.period": {"zh": "考核期", "en": "Period"},
    "console.day": {"zh": "日", "en": "Day"},
    "console.month": {"zh": "月", "en": "Month"},
    "console.quarter": {"zh": "季度", "en": "Quarter"},
    "console.custom": {"zh": "自定义", "en": "Custom"},
    "console.show": {"zh": "查看", "en": "Show"},
    "console.computing": {"zh": "计算中……", "en": "Computing…"},
    "console.figures_failed": {
        "zh": "这一期间的考核数字未能算出，原因已记入采集端日志",
        "en": "The figures for this period could not be computed; the collector's log says why",
    },
    "console.export": {"zh": "导出考核证据包", "en": "Export the evidence bundle"},
    "console.export_running": {
        "zh": "导出中，已用 {seconds} 秒",
        "en": "Exporting, {seconds} s so far",
    },
    "console.export_done": {"zh": "导出完成：下载", "en": "Done: download"},
    "console.export_failed": {"zh": "导出失败", "en": "Export failed"},
    "console.window_new": {"zh": "新建维护窗口", "en": "New maintenance window"},
    "console.window_start": {"zh": "开始", "en": "Start"},
    "console.window_end": {"zh": "结束", "en": "End"},
    "console.window_reason": {"zh": "原因", "en": "Reason"},
    "console.window_scope": {
        "zh": "范围（设备名称、编号或地址，区域或派出所，链路；逗号分隔）",
        "en": "Scope (devices by name, id or address, regions or police stations, links; comma-separated)",
    },
    "console.window_create": {"zh": "创建", "en": "Create"},
    "console.window_close": {"zh": "提前结束", "en": "End now"},
    "console.window_by": {"zh": "申请人", "en": "Requested by"},
    "console.window_active": {"zh": "进行中", "en": "active"},
    "console.window_planned": {"zh": "计划中", "en": "planned"},
    "console.window_over": {"zh": "已结束", "en": "over"},
    "form.scope_unknown": {
        "zh": "“{item}”不是台账中的设备（编号、名称或地址）、区域（名称或派出所）或链路",
        "en": "'{item}' is no device (id, name or address), region (name or police station) or link of the inventory",
    },
    "form.scope_empty": {
        "zh": "请至少填写一个设备、区域或链路",
        "en": "name at least one device, region or link",
    },
    "form.end_before_start": {
        "zh": "结束时间须晚于开始时间",
        "en": "the end must be after the start",
    },
    "form.out_of_range": {
        "zh": "日期超出可用范围（1970 年至 2199 年）",
        "en": "a date out of range (1970 to 2199)",
    },
    # HTTP refusals to a browser (collector/web/console/refusals.py)
    "refused.title.401": {"zh": "需要登录", "en": "Log in first"},
    "refused.title.403": {"zh": "无权操作", "en": "Not allowed"},
    "refused.title.404": {"zh": "找不到", "en": "Not found"},
    "refused.title.409": {"zh": "无法执行", "en": "Cannot be done"},
    "refused.title.413": {"zh": "内容过大", "en": "Too large"},
    "refused.title.422": {"zh": "填写有误", "en": "Not valid"},
    "refused.title.429": {"zh": "请稍候", "en": "Please wait"},
    "refused.title.500": {"zh": "控制台内部错误", "en": "The console failed"},
    "refused.title.503": {"zh": "本机不能执行", "en": "Not done here"},
    "refused.title.other": {"zh": "出错了（{status}）", "en": "Something went wrong ({status})"},
    "refused.status.401": {"zh": "请先登录", "en": "log in first"},
    "refused.status.403": {"zh": "没有权限执行此操作", "en": "you may not do this"},
    "refused.status.404": {"zh": "没有这个页面", "en": "there is no such page"},
    "refused.status.405": {
        "zh": "此页面不接受这种请求",
        "en": "this page does not take this request",
    },
    "refused.status.413": {
        "zh": "提交的内容过大（上限 1 MB）：控制台只收表单，不收文件",
        "en": "what was sent is too large (at most 1 MB): the console takes forms, not files",
    },
    "refused.status.429": {
        "zh": "请求过于频繁：请稍候一分钟再试",
        "en": "too many requests: wait a minute and try again",
    },
    "refused.status.500": {
        "zh": "请求未能完成，错误已记入日志（编号 {incident}）：请将编号告知管理员",
        "en": "the request could not be done; the error is in the log as {incident}: "
        "give the administrator this number",
    },
    "refused.status.other": {"zh": "请求未能完成", "en": "the request could not be done"},
    "refused.login": {"zh": "请先登录控制台", "en": "log in to read the console"},
    "refused.login_or_token": {
        "zh": "请先登录，或提供访问令牌",
        "en": "log in, or give a bearer token",
    },
    "refused.token": {"zh": "访问令牌无效", "en": "the bearer token is not valid"},
    "refused.role": {"zh": "需要“{role}”权限", "en": "needs the {role} role"},
    "refused.role.viewer": {"zh": "查看", "en": "viewer"},
    "refused.role.operator": {"zh": "值班操作", "en": "operator"},
    "refused.role.admin": {"zh": "管理员", "en": "admin"},
    "refused.evaluator": {
        "zh": "只有公安局的考核人员可以批准或驳回免责申请",
        "en": "only the bureau's evaluators approve or reject exemptions",
    },
    "refused.csrf": {
        "zh": "表单已过期或缺少校验码：请刷新页面后重试",
        "en": "the form's CSRF token is missing or stale: reload the page",
    },
    "refused.origin": {
        "zh": "此请求不是从控制台自己的页面发出的",
        "en": "this request did not come from the console's own pages",
    },
    "refused.busy_logins": {
        "zh": "同时登录的人太多：请稍后再试",
        "en": "too many logins at once: try again in a moment",
    },
    "refused.busy_exports": {
        "zh": "已有导出在进行：请等它完成",
        "en": "exports are running already: wait for one to finish",
    },
    "refused.busy_streams": {
        "zh": "打开的实时连接过多：请关闭控制台的其他标签页",
        "en": "too many live streams open: close a tab of the console",
    },
    "refused.no_ticket": {"zh": "没有工单 {id}", "en": "no ticket {id}"},
    "refused.no_device": {"zh": "设备清单中没有设备 {id}", "en": "no device {id} in the inventory"},
    "refused.no_export": {"zh": "没有导出任务 {id}", "en": "no export {id}"},
    "refused.export_not_ready": {"zh": "导出 {id} 尚未完成", "en": "export {id} is not ready"},
    "refused.no_window": {"zh": "没有维护窗口 {id}", "en": "no maintenance window {id}"},
    "refused.no_exemption": {"zh": "没有免责申请 {id}", "en": "no exemption {id}"},
    "refused.no_lockout": {"zh": "没有锁定记录 {id}", "en": "no lockout {id}"},
    "refused.decided": {"zh": "免责申请 {id} 已处理过", "en": "exemption {id} was decided already"},
    "refused.reload": {
        "zh": "设备清单未生效：\n{problems}",
        "en": "the inventory was not put in force:\n{problems}",
    },
    "refused.back": {"zh": "返回", "en": "Back"},
    "refused.home": {"zh": "回到首页", "en": "Home"},
    "form.missing": {"zh": "此项必填", "en": "this field is required"},
    "form.invalid": {"zh": "填写有误", "en": "not valid"},
    "form.refused": {"zh": "未保存：{field}：{problem}", "en": "Not saved: {field}: {problem}"},
    "form.back": {"zh": "返回修改", "en": "Back to the form"},
    "console.period_bad": {
        "zh": "考核期间无法识别：{period}（例：2026-07、2026-Q3、2026-07-01/2026-10-01）",
        "en": "Not a period: {period} (e.g. 2026-07, 2026-Q3, 2026-07-01/2026-10-01)",
    },
    "console.exemption_rule": {
        "zh": "维护窗口、设备停止服务（拆迁、拆除）和工单免责都是考核豁免：由乙方申请，经甲方考核人员批准后才计入考核数据；补报（开始时间早于申请时间）的申请会标出。",
        "en": "Maintenance windows, ends of service (demolition, removal) and excluded tickets are exemptions: the contractor requests them, and they count in the figures only once a bureau evaluator approves them; back-dated requests are marked.",
    },
    "console.exemptions_waiting": {
        "zh": "{count} 项豁免申请待甲方审批",
        "en": "{count} exemption request(s) awaiting the bureau",
    },
    "console.service_end_new": {
        "zh": "申请设备停止服务（拆迁、拆除）",
        "en": "Request an end of service (demolition, removal)",
    },
    "console.service_end_day": {"zh": "停止服务日期", "en": "Out of service from"},
    "console.service_end_devices": {
        "zh": "设备（编号、名称或地址，逗号分隔）",
        "en": "Devices (id, name or address, comma-separated)",
    },
    "console.exemption_cause": {"zh": "原因类别", "en": "Cause"},
    "console.ticket_exclusion_new": {
        "zh": "申请工单免责（非乙方责任）",
        "en": "Request a ticket excluded (not the contractor's fault)",
    },
    "console.ticket": {"zh": "工单编号", "en": "Ticket"},
    "form.cause_unknown": {
        "zh": "不是考核规则所列的原因：{item}",
        "en": "not a cause the policy lists: {item}",
    },
    "form.device_unknown": {
        "zh": "没有这个设备：{item}（停止服务只针对设备）",
        "en": "no such device: {item} (an end of service names devices)",
    },
    "form.ticket_unknown": {"zh": "没有这个工单：{item}", "en": "no such ticket: {item}"},
    "console.exemption_status": {"zh": "审批", "en": "Approval"},
    "console.exemption_pending": {"zh": "待甲方审批", "en": "awaiting the bureau"},
    "console.exemption_approved": {"zh": "甲方已批准", "en": "approved by the bureau"},
    "console.exemption_rejected": {"zh": "甲方已驳回", "en": "rejected by the bureau"},
    "console.exemption_back_dated": {"zh": "补报", "en": "back-dated"},
    "console.exemption_note": {"zh": "审批意见", "en": "Note"},
    "console.exemption_approve": {"zh": "批准", "en": "Approve"},
    "console.exemption_reject": {"zh": "驳回", "en": "Reject"},
    "console.what_if": {"zh": "待审批豁免的影响", "en": "What the pending exemptions would change"},
    "console.what_if_note": {
        "zh": "上表只计入甲方已批准的豁免；下列数字为全部待审批申请获批后的假设结果，尚未生效。",
        "en": "The figures above count only exemptions the bureau approved; these are what they would be if every pending request were approved. They are not in force.",
    },
    "console.what_if_rate": {"zh": "若获批：在线率", "en": "If approved: online rate"},
    "console.what_if_due": {"zh": "若获批：应付（CNY）", "en": "If approved: due (CNY)"},
    "console.what_if_tickets": {"zh": "若获批：工单数", "en": "If approved: tickets"},
    "console.inventory": {"zh": "设备清单", "en": "Inventory"},
    "console.inventory_reload": {
        "zh": "重新载入设备清单（记入台账链）",
        "en": "Put the inventory file in force again (recorded in the ledger)",
    },
    "console.live": {"zh": "实时", "en": "live"},
    "console.forbidden": {"zh": "当前用户无此权限", "en": "Your role may not do this"},
    # The duty room (issue 30): the wall now first, the fault list, handover, map
    "wall.offline": {"zh": "离线 {count} 台", "en": "{count} offline"},
    "wall.unknown": {"zh": "，未知 {count} 台", "en": ", {count} unknown"},
    "wall.today": {
        "zh": "今日在线率 {rate} · 目标 {target}",
        "en": "today {rate} · target {target}",
    },
    "wall.outage": {
        "zh": "大面积离线：{name} {total} 台中 {down} 台离线",
        "en": "Outage: {name}, {down} of {total} offline",
    },
    "wall.online_now": {"zh": "当前在线", "en": "Online now"},
    "console.map": {"zh": "地图", "en": "Map"},
    "duty.regions_more": {"zh": " 等 {count} 个区域", "en": " and more ({count} regions)"},
    "duty.retired": {"zh": "已停用", "en": "retired"},
    "duty.sound": {"zh": "告警声音", "en": "Alarm sound"},
    "duty.sound_on": {"zh": "声音：开", "en": "Sound: on"},
    "duty.sound_off": {"zh": "声音：关", "en": "Sound: off"},
    "duty.sound_blocked": {"zh": "声音：点击启用", "en": "Sound: click to enable"},
    "duty.new_alarm": {"zh": "新故障", "en": "New fault"},
    "duty.class": {"zh": "故障类别", "en": "Class"},
    "duty.acknowledged": {"zh": "是否已响应", "en": "Acknowledged"},
    "duty.yes": {"zh": "已响应", "en": "acknowledged"},
    "duty.no": {"zh": "未响应", "en": "not acknowledged"},
    "duty.export": {"zh": "导出 Excel", "en": "Export to Excel"},
    "duty.handover": {"zh": "交接班", "en": "Handover"},
    "duty.handover_title": {
        "zh": "交接班：{since} 至 {until} 的工单",
        "en": "Handover: tickets from {since} to {until}",
    },
    "duty.shift_hours": {"zh": "班次时长（小时）", "en": "Shift (hours)"},
    "duty.summary": {
        "zh": "本班 {total} 张工单：已恢复 {closed}，未恢复 {open}，已响应 {acknowledged}",
        "en": "{total} tickets this shift: {closed} closed, {open} open, {acknowledged} acknowledged",
    },
    "duty.print": {"zh": "打印", "en": "Print"},
    "duty.status": {"zh": "状态", "en": "Status"},
    "duty.open": {"zh": "未恢复", "en": "open"},
    "duty.closed": {"zh": "已恢复", "en": "closed"},
    "duty.select_all": {"zh": "全选", "en": "Select all"},
    "duty.bulk_ack": {"zh": "批量响应所选工单", "en": "Acknowledge the selected"},
    "duty.bulk_none": {"zh": "未选择任何工单", "en": "no ticket selected"},
    "duty.note_line": {"zh": "响应备注：{note}", "en": "Note: {note}"},
    "duty.separator": {"zh": "、", "en": ", "},
    "duty.ticket_gone": {
        "zh": "工单 {id} 不存在或已并入网络故障工单，请刷新后重选",
        "en": "ticket {id} does not exist or was merged into a network ticket: reload and choose again",
    },
    "duty.members": {"zh": "涉及设备（{count} 台）", "en": "Devices ({count})"},
    "duty.attached": {"zh": "加入设备记录（{count} 条）", "en": "Devices attached ({count})"},
    "device.uplink": {"zh": "上联交换机", "en": "Uplink switch"},
    "device.port": {"zh": "端口", "en": "Port"},
    "device.port_up": {"zh": "端口正常", "en": "port up"},
    "device.port_down": {"zh": "端口断开", "en": "port down"},
    "device.port_unknown": {
        "zh": "交换机{state}，端口状态不可知",
        "en": "switch {state}: port state unknown",
    },
    "device.link": {"zh": "链路", "en": "Link"},
    "device.backup_fiber": {"zh": "备用光纤", "en": "Backup fibre"},
    "device.model": {"zh": "品牌型号", "en": "Make and model"},
    "device.location": {"zh": "安装位置", "en": "Location"},
    "device.coordinates": {"zh": "经纬度", "en": "Coordinates"},
    "device.retired": {"zh": "已停用", "en": "retired"},
    "device.retired_note": {
        "zh": "该设备已不在设备台账中（或已过服务期），不再考核",
        "en": "This device has left the inventory (or its service ended): it is no longer judged",
    },
    "device.checks_unreachable": {
        "zh": "设备离线，无法进行其他检查",
        "en": "The device is offline: no other check can run",
    },
    "map.title": {"zh": "设备分布图", "en": "Device map"},
    "map.no_coordinates": {
        "zh": "{count} 台设备未登记经纬度，未在图中显示",
        "en": "{count} devices have no coordinates and are not shown",
    },
    "map.longitude": {"zh": "经度", "en": "Longitude"},
    "map.latitude": {"zh": "纬度", "en": "Latitude"},
    "scope.search": {
        "zh": "输入名称、地址、区域或派出所搜索",
        "en": "Search a name, address, region or station",
    },
    "scope.device": {"zh": "设备", "en": "device"},
    "scope.region": {"zh": "区域", "en": "region"},
    "scope.link": {"zh": "链路", "en": "link"},
    "column.affected": {"zh": "影响设备数", "en": "Devices affected"},
    "column.note": {"zh": "响应备注", "en": "Note"},
    "sheet.faults": {"zh": "故障清单", "en": "Faults"},
    "event.opened": {"zh": "开单", "en": "opened"},
    "event.attached": {"zh": "加入设备", "en": "device attached"},
    "event.merged": {"zh": "并入网络故障", "en": "merged into a network fault"},
    "event.acknowledged": {"zh": "响应", "en": "acknowledged"},
    "event.resolved": {"zh": "恢复", "en": "resolved"},
    "event.reopened": {"zh": "复发", "en": "reopened"},
    "state.up": {"zh": "在线", "en": "up"},
    "state.degraded": {"zh": "降级", "en": "degraded"},
    "state.down": {"zh": "离线", "en": "down"},
    "state.unknown": {"zh": "未知", "en": "unknown"},
    "text.and_more": {"zh": "等 {count} 台", "en": "and {more} more ({count} in all)"},
    "text.devices_count": {"zh": "{count} 台设备", "en": "{count} device(s)"},
    # SNMP, second pass (issue 29): the reason code of its own, and probe's conclusions
    "reason.snmp_silent": {"zh": "主机可达，SNMP 无应答", "en": "host reachable, SNMP silent"},
    "reason.agent_clock_unknown": {
        "zh": "采集节点自身时钟未同步，未判断摄像机时钟",
        "en": "agent's own clock not synchronised: camera clock not judged",
    },
    "probe.conclusion": {"zh": "结论", "en": "verdict"},
    "conclusion.up": {"zh": "设备正常", "en": "The device is up"},
    "conclusion.snmp_silent": {
        "zh": "主机可达，SNMP 无应答：检查团体名（v2c）和 SNMP 访问控制",
        "en": "Host reachable, SNMP silent: check the community (v2c) and the SNMP access list",
    },
    "conclusion.silent_port_ok": {
        "zh": "{kind}无应答，但其上联交换机端口正常：故障在{kind}或其电源",
        "en": "The {kind} does not answer but its uplink switch port is up: "
        "the fault is the {kind} or its power",
    },
    "conclusion.port_down": {
        "zh": "上联端口 {state}：故障在线路或交换机",
        "en": "Uplink port {state}: the fault is the line or the switch",
    },
    "conclusion.port_down_device_up": {
        "zh": "上联端口 {state}，但设备有应答：核对台账中的上联端口",
        "en": "Uplink port {state}, yet the device answers: check the uplink port in the inventory",
    },
    "conclusion.silent": {
        "zh": "设备无应答：{reason}",
        "en": "The device does not answer: {reason}",
    },
    "conclusion.snmp_elsewhere": {
        "zh": "主机可达，SNMP 应答来自另一地址（多宿主）：在其配置文件中设置 replies_from_any_address",
        "en": "Host reachable, SNMP answers from another address (multi-homed): set "
        "replies_from_any_address in its profile",
    },
    "conclusion.degraded": {"zh": "设备在线但降级：{reason}", "en": "Up but degraded: {reason}"},
    # slawatch-agent probe: what its checks, metrics and notes are called, with units
    "probe.note": {"zh": "说明", "en": "why"},
    "probe.retries": {"zh": "重试", "en": "retries"},
    "reach.open": {"zh": "可连接", "en": "accepts connections"},
    "check.liveness": {"zh": "存活", "en": "liveness"},
    "check.clock": {"zh": "时钟", "en": "clock"},
    "check.credentials": {"zh": "账号密码", "en": "credentials"},
    "check.device_info": {"zh": "设备信息", "en": "device information"},
    "check.stream": {"zh": "实时视频", "en": "live video"},
    "check.recording": {"zh": "录像", "en": "recording"},
    "check.uptime": {"zh": "运行时长", "en": "uptime"},
    "check.door_state": {"zh": "门状态", "en": "door state"},
    "check.tamper": {"zh": "防拆", "en": "tamper"},
    "check.upload_backlog": {"zh": "上传积压", "en": "upload backlog"},
    "check.captures": {"zh": "抓拍", "en": "captures"},
    "check.object_id": {"zh": "设备类型标识", "en": "sysObjectID"},
    "check.port": {"zh": "端口 {port}", "en": "port {port}"},
    "metric.rtt_ms": {"zh": "往返时延", "en": "round trip"},
    "metric.clock_offset_s": {"zh": "时钟偏差", "en": "clock offset"},
    "metric.recording_lag_s": {"zh": "录像滞后", "en": "recording lag"},
    "metric.uptime_s": {"zh": "运行时长", "en": "uptime"},
    "metric.captures": {"zh": "抓拍总数", "en": "captures"},
    "metric.ports_down": {"zh": "断开端口数", "en": "ports down"},
    "metric.ports_watched": {"zh": "监视端口数", "en": "ports watched"},
    "metric.door_state": {"zh": "门状态", "en": "door state"},
    "metric.tamper": {"zh": "防拆状态", "en": "tamper state"},
    "metric.upload_backlog": {"zh": "上传积压", "en": "upload backlog"},
    "unit.ms": {"zh": "毫秒", "en": "ms"},
    "unit.s": {"zh": "秒", "en": "s"},
    "note.onvif_auth": {"zh": "ONVIF 认证方式", "en": "ONVIF authentication"},
    "note.rtsp_auth": {"zh": "RTSP 认证方式", "en": "RTSP authentication"},
    "note.rtsp_redirect": {"zh": "RTSP 重定向", "en": "RTSP redirect"},
    "note.media": {"zh": "媒体服务版本", "en": "media service"},
    "note.media_service": {"zh": "媒体服务地址", "en": "media service address"},
    "note.nat": {"zh": "服务地址改写（NAT）", "en": "service address rewritten (NAT)"},
    "note.stream_uri": {"zh": "视频地址改写", "en": "stream URI rewritten"},
    "note.device": {"zh": "厂商 型号 固件", "en": "make, model, firmware"},
    "note.services": {"zh": "服务列表", "en": "services"},
    "note.ports": {"zh": "端口表", "en": "interface table"},
    "note.snmp": {"zh": "SNMP", "en": "SNMP"},
    "note.snmp_auth": {"zh": "SNMP 认证", "en": "SNMP authentication"},
    "note.snmp_engine": {"zh": "SNMP 引擎", "en": "SNMP engine"},
    "note.snmp_priv": {"zh": "SNMP 加密", "en": "SNMP privacy"},
    "note.snmp_get": {"zh": "SNMP 读取", "en": "SNMP GET"},
    "note.snmp_walk": {"zh": "SNMP 遍历", "en": "SNMP walk"},
    "note.snmp_reply": {"zh": "SNMP 应答地址", "en": "SNMP answer's address"},
    "note.snmp_slow": {"zh": "SNMP 慢应答", "en": "SNMP slow answer"},
    # What a probe says of its verdict (``Said`` notes): the technical why, the protocol's
    # own names (HTTP, SOAP elements, OIDs, ifOperStatus) kept as they are
    "why.separator": {"zh": "；", "en": "; "},
    "why.list": {"zh": "{items}", "en": "{items}"},
    "why.operation": {"zh": "{operation}：{why}", "en": "{operation}: {why}"},
    "why.answer_to": {"zh": "{operation} 的应答：{what}", "en": "{what} to {operation}"},
    "why.os_error": {"zh": "{words}：{detail}", "en": "{words}: {detail}"},
    "why.not_xml": {"zh": "不是 XML：{error}", "en": "not XML: {error}"},
    "why.unknown_charset": {"zh": "未知字符集 '{charset}'", "en": "unknown charset '{charset}'"},
    "why.no_soap_body": {"zh": "应答中没有 SOAP Body", "en": "no SOAP Body"},
    "why.too_large": {"zh": "应答过大", "en": "reply too large"},
    "why.not_http": {"zh": "不是 HTTP 应答", "en": "not an HTTP response"},
    "why.bad_length": {"zh": "Content-Length 无效", "en": "bad Content-Length"},
    "why.bad_chunk": {"zh": "分块长度（chunk size）无效", "en": "bad chunk size"},
    "why.bad_time": {"zh": "日期或时间无效：{error}", "en": "bad date or time: {error}"},
    "why.no_time": {
        "zh": "应答中既无 UTCDateTime 也无 LocalDateTime",
        "en": "neither UTCDateTime nor LocalDateTime in the reply",
    },
    "why.clock_no_tz": {
        "zh": "应答无 UTCDateTime，LocalDateTime 也未带时区",
        "en": "no UTCDateTime, and LocalDateTime without a TimeZone",
    },
    "why.clock_tz_unknown": {
        "zh": "应答无 UTCDateTime，时区 '{tz}' 无法确定对应的 UTC，未判断时钟",
        "en": "no UTCDateTime, and the TZ '{tz}' does not say which UTC",
    },
    "why.clock_local": {
        "zh": "应答无 UTCDateTime：按本地时间和时区 {tz}（{zones}）推算时钟",
        "en": "no UTCDateTime: clock from local time and TZ {tz} ({zones})",
    },
    "why.no_credentials": {
        "zh": "无（台账未给账号）",
        "en": "none (no credentials in the inventory)",
    },
    "why.auth_refused": {
        "zh": "被拒绝（WS-Security 和 HTTP Digest 均未通过）",
        "en": "refused (WS-Security and HTTP Digest)",
    },
    "why.nat": {
        "zh": "摄像机通告 {advertised}，改用 {used}（NAT：通告的地址不是台账中的地址）",
        "en": "camera advertises {advertised}, used {used} "
        "(NAT: the advertised address is not the inventory's)",
    },
    "why.inventory_path": {"zh": "路径 {path} 取自台账", "en": "path {path} from the inventory"},
    "why.no_profile": {"zh": "没有媒体配置（Profiles）", "en": "no media profile"},
    "why.no_stream_uri": {"zh": "应答中没有视频地址（Uri）", "en": "no stream URI"},
    "why.no_data_until": {"zh": "应答中没有 DataUntil", "en": "no DataUntil"},
    "why.refused": {"zh": "被拒绝：{why}", "en": "refused: {why}"},
    "why.auth_from_uri": {
        "zh": "{auth}（使用视频地址中的账号）",
        "en": "{auth} (credentials from the stream URI)",
    },
    "why.not_rtsp": {"zh": "不是 RTSP 应答：{line}", "en": "not an RTSP reply: {line}"},
    "why.sdp_too_large": {"zh": "SDP 过大", "en": "SDP too large"},
    "why.after_redirects": {
        "zh": "{why}（重定向后：{redirects}）",
        "en": "{why}, after {redirects}",
    },
    "why.no_location": {
        "zh": "RTSP {status} 却没有 Location",
        "en": "RTSP {status} without a Location",
    },
    "why.too_many_redirects": {
        "zh": "重定向超过 {count} 次：{redirects}",
        "en": "more than {count} redirects: {redirects}",
    },
    "why.rtsp_refused": {
        "zh": "RTSP 401（{scheme} 认证被拒绝）",
        "en": "RTSP 401 ({scheme} refused)",
    },
    "why.no_video": {"zh": "SDP 中没有视频轨", "en": "no video track in the SDP"},
    "why.not_rtsp_uri": {"zh": "不是 rtsp:// 地址：{uri}", "en": "not an rtsp:// URI: {uri}"},
    "why.wrong_priv": {
        "zh": "应答引擎发现，却不应答 authPriv 请求：加密密钥错误？",
        "en": "answers engine discovery but not the authPriv request: wrong privacy key?",
    },
    "why.wrong_priv_tried": {
        "zh": "应答引擎发现，却不应答 authPriv 请求：加密密钥错误？（已试 {tried} 密钥扩展）",
        "en": "answers engine discovery but not the authPriv request: wrong privacy key? "
        "(tried {tried} key extension)",
    },
    "why.reeder": {
        "zh": "Reeder（Cisco，Net-SNMP -x AES-256-C）",
        "en": "Reeder's (Cisco, Net-SNMP -x AES-256-C)",
    },
    "why.blumenthal": {
        "zh": "Blumenthal（Net-SNMP -x AES-256）",
        "en": "Blumenthal's (Net-SNMP -x AES-256)",
    },
    "why.and": {"zh": "{first} 和 {second}", "en": "{first} and {second}"},
    "why.too_big_single": {
        "zh": "单个 OID 的 GET 也被应答 tooBig",
        "en": "error-status tooBig for a single OID",
    },
    "why.oid_not_increasing": {"zh": "OID 未递增：{oid}", "en": "OID not increasing at {oid}"},
    "why.bad_ber": {"zh": "无法解码的 SNMP 报文：{error}", "en": "{error}"},
    "why.snmp_silent_v2c": {
        "zh": "{waited} 秒内无 SNMP 应答，但 TCP {port} 可连接：主机在线；请检查团体名"
        "（v2c 对错误的团体名不作任何应答）、SNMP 访问控制和 SNMP 服务",
        "en": "no SNMP answer in {waited} s, but TCP {port} accepts connections: the host is "
        "up; check the community (v2c drops a wrong one without a word), the SNMP access "
        "list and the SNMP service",
    },
    "why.snmp_silent_v3": {
        "zh": "{waited} 秒内无 SNMP 应答，但 TCP {port} 可连接：主机在线；请检查 SNMP 访问控制和 SNMP 服务",
        "en": "no SNMP answer in {waited} s, but TCP {port} accepts connections: the host is "
        "up; check the SNMP access list and the SNMP service",
    },
    "why.snmp_timeout": {"zh": "{waited} 秒内无 SNMP 应答", "en": "no SNMP answer in {waited} s"},
    "why.snmp_timeout_tried": {
        "zh": "{waited} 秒内无 SNMP 应答；{tried}",
        "en": "no SNMP answer in {waited} s; {tried}",
    },
    "why.tcp_reach": {"zh": "TCP {port} {words}", "en": "TCP {port} {code}"},
    "why.no_interface": {"zh": "没有与 '{spec}' 对应的接口", "en": "no interface matches '{spec}'"},
    "why.admin_down": {
        "zh": "ifIndex {index} 已被管理员关闭（不算故障）",
        "en": "ifIndex {index} shut down by its administrator",
    },
    "why.index_gone": {
        "zh": "ifIndex {index} 不再应答：将重新查找端口",
        "en": "ifIndex {index} no longer answers: the ports are looked up again",
    },
    "why.port_unknown": {
        "zh": "ifIndex {index} {state}：交换机无法判断",
        "en": "ifIndex {index} {state}: the switch cannot tell",
    },
    "why.ports_unread": {
        "zh": "无法读取接口表（{reason}：{failure}）",
        "en": "the interface table could not be read ({reason}: {failure})",
    },
    "why.no_uptime": {
        "zh": "应答中没有 sysUpTime（{oid}）",
        "en": "no sysUpTime ({oid}) in the answer",
    },
    "why.no_object": {"zh": "无此对象：{oid}", "en": "no such object: {oid}"},
    "why.get_chunked": {
        "zh": "一次 GET {asked} 个 OID 被应答 tooBig：改为每次 {chunk} 个",
        "en": "a GET of {asked} OIDs was answered tooBig: asked {chunk} at a time",
    },
    "why.other_address": {
        "zh": "应答来自 {sender} 而非 {address}（多宿主；配置文件设置了 "
        "replies_from_any_address，故采纳）",
        "en": "answered from {sender}, not {address} (multi-homed; taken because the "
        "profile sets replies_from_any_address)",
    },
    "why.reply_elsewhere": {
        "zh": "应答来自 {sender} 而非 {address}，未采纳（防伪造）：多宿主设备请在其配置文件中设置 "
        "replies_from_any_address: true",
        "en": "answered from {sender}, not {address}: not taken (it could be forged); for a "
        "multi-homed device set replies_from_any_address: true in its profile",
    },
    "why.slow": {
        "zh": "{took} 秒后才应答，超过 {timeout} 秒的超时：按 Net-SNMP 的做法采纳了对先前请求的应答",
        "en": "answered after {took} s, past the {timeout} s timeout: the answer to an "
        "earlier send was taken, as Net-SNMP does",
    },
    "why.bulk_silent": {
        "zh": "GETBULK 无应答：改用 GETNEXT 遍历",
        "en": "GETBULK went unanswered: walks by GETNEXT",
    },
    "why.bulk_smaller": {
        "zh": "{rows} 行的 GETBULK 被应答 tooBig：改为每次 {fits} 行",
        "en": "GETBULK of {rows} rows answered tooBig: walks {fits} rows a request",
    },
    "why.bulk_too_big": {
        "zh": "{rows} 行的 GETBULK 被应答 tooBig：改用 GETNEXT 遍历",
        "en": "GETBULK of {rows} rows answered tooBig: walks by GETNEXT",
    },
    "why.bulk_refused": {
        "zh": "GETBULK 被应答 {status}：改用 GETNEXT 遍历",
        "en": "GETBULK answered {status}: walks by GETNEXT",
    },
    "why.engine_changed": {
        "zh": "引擎 ID 由 {before} 变为 {after}（设备更换或复位）：已重新发现",
        "en": "engine ID changed {before} → {after} (unit replaced or reset): discovered again",
    },
    "why.priv_extension": {
        "zh": "{priv}，采用 {extension} 密钥扩展（配置文件为 auto）",
        "en": "{priv} with {extension} key extension (the profile says auto)",
    },
    "probe.no_device": {
        "zh": "slawatch-agent：站点 {site} 没有设备 '{device}'",
        "en": "slawatch-agent: no device '{device}' at site {site}",
    },
}


def text(key: str, language: Language = "zh", **values: object) -> str:
    """The words for ``key``; an unknown key shows itself (a missing entry is visible)."""
    entry = _CATALOGUE.get(key)
    if entry is None:
        return key
    return entry[language].format(**values) if values else entry[language]


class Said(str):
    """Words from the catalogue that can be said again in the other language.

    As a string it is the English (what logs, ``--json`` scripts and tests read); the
    catalogue key and values are kept so ``said_in`` gives the reader's language. A
    value may itself be ``Said`` (said in the same language), a tuple of strings (each
    said, joined by the language's list separator), or anything else (shown as it is:
    an address, an OID, a library's or the device's own words). Used for the notes a
    probe explains its verdict with, which are made where the language is not known.
    """

    key: str
    values: dict[str, object]

    def __new__(cls, key: str, **values: object) -> Said:
        self = super().__new__(cls, _say(key, values, "en"))
        self.key = key
        self.values = values
        return self


def _say(key: str, values: dict[str, object], language: Language) -> str:
    return text(key, language, **{name: _value(v, language) for name, v in values.items()})


def _value(value: object, language: Language) -> object:
    if isinstance(value, tuple):
        separator = text("why.separator", language)
        return separator.join(said_in(v, language) if isinstance(v, str) else str(v) for v in value)
    return said_in(value, language) if isinstance(value, str) else value


def said_in(words: str, language: Language) -> str:
    """``words`` in ``language`` when they are the catalogue's (``Said``), else as they are."""
    return _say(words.key, words.values, language) if isinstance(words, Said) else words


def known(key: str) -> bool:
    """Whether the catalogue has words for ``key`` (names a probe makes up, such as a
    profile's own checks, may have none: they are shown as they are)."""
    return key in _CATALOGUE


def reason_text(reason: str, language: Language = "zh") -> str:
    return text(f"reason.{reason}", language)
