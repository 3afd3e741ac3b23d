//! Errors in the Rivet Engine's shape, which RivetKit parses: `group.code` names the situation
//! and a JSON body `{"group", "code", "message"}` carries it (RIVETKIT.md, "Error format").
//! The gateway writes its reasons as `group.code: message` (or just `group.code`), so the same
//! text serves as a close reason, a log line and the source of that body.

/// The parts of a gateway error reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineError<'a> {
    /// `actor`, `guard`, `torpor`, ...
    pub group: &'a str,
    /// `not_found`, `crashed`, ...
    pub code: &'a str,
    /// What happened, for people.
    pub message: &'a str,
}

impl<'a> EngineError<'a> {
    /// Splits `group.code: message` (the message defaults to the whole reason). A reason
    /// without a `group.` prefix is reported as `torpor.error`.
    pub fn parse(reason: &'a str) -> Self {
        let (name, message) = match reason.split_once(": ") {
            Some((name, message)) => (name, message),
            None => (reason, reason),
        };
        match name.split_once('.') {
            Some((group, code))
                if !group.is_empty() && !code.is_empty() && !name.contains(char::is_whitespace) =>
            {
                Self {
                    group,
                    code,
                    message,
                }
            }
            _ => Self {
                group: "torpor",
                code: "error",
                message: reason,
            },
        }
    }

    /// `group.code`, the value of the `x-rivet-error` header.
    pub fn name(&self) -> String {
        format!("{}.{}", self.group, self.code)
    }

    /// The JSON body.
    pub fn json(&self) -> Vec<u8> {
        serde_json::json!({
            "group": self.group,
            "code": self.code,
            "message": self.message,
        })
        .to_string()
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_split_into_group_code_and_message() {
        let e = EngineError::parse("torpor.runner_disconnected: the runner left");
        assert_eq!(
            (e.group, e.code, e.message, e.name()),
            (
                "torpor",
                "runner_disconnected",
                "the runner left",
                "torpor.runner_disconnected".into()
            )
        );
        let e = EngineError::parse("actor.crashed");
        assert_eq!(
            (e.group, e.code, e.message),
            ("actor", "crashed", "actor.crashed")
        );
        let e = EngineError::parse("something went wrong. badly");
        assert_eq!((e.group, e.code), ("torpor", "error"));
        assert_eq!(
            String::from_utf8(EngineError::parse("actor.not_found: no \"x\"").json()).unwrap(),
            r#"{"code":"not_found","group":"actor","message":"no \"x\""}"#
        );
    }
}
