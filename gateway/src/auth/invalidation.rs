//! The messages svc-auth publishes on the invalidation bus, and what each one drops.

use crm_platform::bus::FLUSH_ALL;

/// One bus message, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation<'a> {
    /// `key:<hash>`: an API key changed; drop it from the key caches.
    Key(&'a str),
    /// `member:<workspace_id>:<user_id>`: a membership was created, changed role or was
    /// removed; drop that user's cached membership of the workspace.
    Member {
        /// The workspace.
        workspace_id: &'a str,
        /// Our user id.
        user_id: &'a str,
    },
    /// `user:<user_id>`: the user's token version rose (password change); drop every cached
    /// membership of the user.
    User(&'a str),
    /// [`FLUSH_ALL`]: messages may have been missed; drop everything.
    All,
}

impl<'a> Invalidation<'a> {
    /// Parses a message; `None` for one this gateway does not know (a newer svc-auth's),
    /// which is ignored.
    pub fn parse(message: &'a str) -> Option<Self> {
        if message == FLUSH_ALL {
            return Some(Self::All);
        }
        let (kind, rest) = message.split_once(':')?;
        let nonempty = |s: &'a str| (!s.is_empty()).then_some(s);
        match kind {
            "key" => nonempty(rest).map(Self::Key),
            "user" => nonempty(rest).map(Self::User),
            "member" => {
                let (workspace_id, user_id) = rest.split_once(':')?;
                Some(Self::Member {
                    workspace_id: nonempty(workspace_id)?,
                    user_id: nonempty(user_id)?,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_message_svc_auth_sends() {
        assert_eq!(Invalidation::parse("*"), Some(Invalidation::All));
        assert_eq!(
            Invalidation::parse("key:ab12"),
            Some(Invalidation::Key("ab12"))
        );
        assert_eq!(
            Invalidation::parse("member:w-1:u-2"),
            Some(Invalidation::Member {
                workspace_id: "w-1",
                user_id: "u-2"
            })
        );
        assert_eq!(
            Invalidation::parse("user:u-2"),
            Some(Invalidation::User("u-2"))
        );
    }

    #[test]
    fn ignores_malformed_and_unknown_messages() {
        for message in [
            "",
            "key:",
            "user:",
            "member:w-1",
            "member::u-2",
            "member:w-1:",
            "role:w-1:u-2",
            "no-colon",
        ] {
            assert_eq!(Invalidation::parse(message), None, "{message:?}");
        }
    }
}
