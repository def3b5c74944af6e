//! The pages' static labels, in Chinese and English: one table, so a
//! missing translation is one place to look.

/// The language of a page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lang {
    ZhCn,
    En,
}

impl Lang {
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// A static label in the page language.
pub fn text(lang: Lang, key: &str) -> &'static str {
    let (zh, en) = match key {
        "app" => ("一码通", "Yimatong health code"),
        "rules_title" => ("规则公示", "Rules in force"),
        "citizen" => ("我的健康码", "My health code"),
        "verify" => ("验码", "Verify a code"),
        "console" => ("管理控制台", "Authority console"),
        "switch" => ("English", "中文"),
        "id_type" => ("证件类型", "ID type"),
        "id_number" => ("证件号码", "ID number"),
        "otp" => ("验证码", "One-time code"),
        "sign_in" => ("登录", "Sign in"),
        "sign_in_provider_staff" => ("通过统一身份认证登录", "Sign in with your staff identity"),
        "sign_in_provider" => (
            "通过国家政务服务平台实名登录",
            "Sign in with your national identity",
        ),
        "sign_out" => ("退出", "Sign out"),
        "resident_id" => ("居民身份证", "Resident ID card"),
        "passport" => ("护照", "Passport"),
        "hk_macao_permit" => ("港澳居民来往内地通行证", "Hong Kong/Macao permit"),
        "taiwan_permit" => ("台湾居民来往大陆通行证", "Taiwan permit"),
        "foreign_permanent_resident" => ("外国人永久居留身份证", "Foreign permanent resident card"),
        "why" => ("原因", "Why"),
        "clears" => ("何时转绿", "When it clears"),
        "recent" => ("近期检测与场所登记", "Recent tests and check-ins"),
        "appeal" => ("申诉", "Appeal"),
        "appeal_text" => ("申诉理由", "Reason for the appeal"),
        "my_appeals" => ("申诉进度", "Your appeals"),
        "refresh" => ("刷新", "Refresh"),
        "dependents" => ("代查家属", "Dependents"),
        "scan" => ("扫码", "Scan with camera"),
        "paste" => ("粘贴码文本", "Paste the code text"),
        "upload" => ("上传图片", "Upload an image"),
        "check" => ("核验", "Verify"),
        "settings" => ("设备设置", "Device settings"),
        "verifier_key" => ("验码设备密钥", "Verifier device key"),
        "venue" => ("场所编号", "Venue id"),
        "region" => ("地区代码", "Region code"),
        "save" => ("保存", "Save"),
        "service" => ("服务", "Service"),
        "service_health" => ("健康码", "Health code"),
        "service_hospital" => ("医院入口（就医）", "Hospital entrance"),
        "service_care" => ("养老机构探视", "Care-home visit"),
        "symptoms" => ("发热或呼吸道症状", "Fever or respiratory symptoms"),
        "resident" => ("被探视的老人（pid）", "Resident visited (pid)"),
        "service_hint" => (
            "医院和养老机构：在设备设置中填写本机构工作人员密钥和机构编号",
            "Hospitals and care homes: enter the staff key and the venue id in the device settings",
        ),
        "consents" => (
            "医院查阅检测结果授权",
            "Hospitals allowed to read my test results",
        ),
        "consent_venue" => ("医院编号", "Hospital id"),
        "give_consent" => ("授权查阅", "Allow reading"),
        "visits" => ("养老机构探视记录", "Care-home visits"),
        "services" => ("服务规则与机构配置", "Service rules and venue profiles"),
        "svc_show" => ("查看现行规则", "Show the rules in force"),
        "svc_document" => (
            "规则集或机构配置（JSON）",
            "Rule set or venue profile (JSON)",
        ),
        "svc_propose" => (
            "提交新规则集（需另一名国家管理员批准）",
            "Propose a rule set (a second national admin approves)",
        ),
        "svc_profile" => ("发布机构配置", "Publish the venue profile"),
        "id_card_mode" => ("刷身份证核验", "ID card check"),
        "api_key" => ("API 密钥", "API key"),
        "dashboard" => ("概览", "Dashboard"),
        "chart_region" => (
            "地区代码（留空为本辖区）",
            "Region code (empty: your whole jurisdiction)",
        ),
        "appeals" => ("申诉队列", "Appeals queue"),
        "lookup" => ("人员查询", "Person lookup"),
        "lookup_or_pid" => ("或人员编号（假名）", "Or the person id (pseudonym)"),
        "pid" => ("人员编号", "Person id"),
        "rules" => ("规则版本", "Rule-set versions"),
        "risk_areas" => ("风险区域", "Risk areas"),
        "risk_designate" => ("划定风险区域", "Designate an area"),
        "risk_region" => (
            "地区代码（社区12位、街道9位或区县6位）",
            "Region code (community 12, street 9 or county 6 digits)",
        ),
        "risk_venues" => ("或场所编号（逗号分隔）", "Or venue ids (comma separated)"),
        "risk_level" => ("风险等级", "Level"),
        "level_high" => ("高风险", "High"),
        "level_medium" => ("中风险", "Medium"),
        "level_low" => ("低风险", "Low"),
        "risk_from" => ("起始时间", "From"),
        "risk_until" => ("截止时间", "Until"),
        "risk_reason" => ("划定理由", "Reason"),
        "risk_submit" => ("预览影响", "Preview the impact"),
        "risk_current" => ("当前风险区域", "Current risk areas"),
        "pending_approvals" => ("待审批", "Pending approvals"),
        "note" => ("处理意见", "Resolution note"),
        "search" => ("查询", "Look up"),
        "diff" => ("比较", "Compare"),
        "preview" => ("影响预估", "Impact preview"),
        "elder_mode" => ("长辈模式", "Large type (elder mode)"),
        "code_text" => ("码文本（可复制）", "Code text (to copy)"),
        "copy" => ("复制", "Copy"),
        "history" => ("我的码色记录", "My color history"),
        "notify_enable" => ("码色变化时通知我", "Notify me when my color changes"),
        "summary" => ("检测与接种", "Tests and vaccinations"),
        "paste_or_gun" => (
            "粘贴码文本，或用扫码枪扫描（回车核验）",
            "Paste the code text, or scan with a scanner gun (Enter verifies)",
        ),
        "recent_scans" => ("最近核验", "Recent checks"),
        "request_code" => ("获取验证码", "Get a one-time code"),
        "other_nodes" => (
            "本节点暂时无法服务。上面仍显示您最后获取的码（可离线核验）；可到以下节点重新登录继续：",
            "This node cannot serve right now. The last code fetched still shows above (it verifies offline); sign in again on another node to continue:",
        ),
        "venue_checkin" => ("场所码登记", "Check in at a venue"),
        "scan_venue" => ("扫场所码登记", "Scan a venue code"),
        "venue_confirm" => ("确认登记", "Confirm the check-in"),
        "id_number_or_reader" => (
            "证件号码（或用读卡器刷卡）",
            "ID number (or swipe the card in the reader)",
        ),
        "diff_from" => ("原版本", "From version"),
        "diff_to" => ("新版本", "To version"),
        "preview_version" => (
            "预估版本（已发布或待审批）",
            "Version (published or awaiting approval)",
        ),
        "preview_draft" => ("或粘贴草稿（JSON）", "Or paste a draft (JSON)"),
        "simulate" => ("发布前模拟", "Simulate before publishing"),
        "simulate_persons" => ("模拟人数", "Persons simulated"),
        "simulate_days" => ("模拟天数", "Days simulated"),
        "simulate_seeds" => ("随机种子数", "Seeds"),
        "publish_draft" => (
            "提交发布草稿（全国规则集需另一名国家管理员批准）",
            "Propose the draft for publication (a national rule set needs a second national admin)",
        ),
        _ => ("?", "?"),
    };
    match lang {
        Lang::ZhCn => zh,
        Lang::En => en,
    }
}
