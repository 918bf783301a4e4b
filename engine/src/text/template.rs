//! Message templates: `{placeholder}`s filled from an allowed list, and nothing else.
//! Unknown placeholders are errors that name the placeholder, so a tenant's typo is caught
//! by `qualify check` instead of reaching a lead as "Hi {frist_name}".

/// Placeholders a template may use.
pub const PLACEHOLDERS: [&str; 5] = [
    "first_name",
    "last_name",
    "agent_name",
    "budget",
    "location",
];

/// Fills `{placeholder}`s with `value(name)` (an absent value leaves nothing); an unknown
/// or unclosed placeholder is an error naming it.
///
/// ```
/// use qualify_engine::text::template::render;
/// let hi = render("Hi {first_name}!", |_| Some("Ana".into())).unwrap();
/// assert_eq!(hi, "Hi Ana!");
/// assert!(render("Hi {frist_name}", |_| None).unwrap_err().contains("frist_name"));
/// ```
pub fn render(
    template: &str,
    value: impl Fn(&str) -> Option<String>,
) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed '{{' in {template:?}"))?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!(
                "unknown placeholder {{{name}}} (allowed: {})",
                PLACEHOLDERS.join(", ")
            ));
        }
        out.push_str(&value(name).unwrap_or_default());
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
