//! `--user` / `--password` (or `REDISCLI_AUTH`) as the replica's `AUTH`.

use replproto::replica::ReplicaConfig;

/// Adds the credentials to `config`: `AUTH <user> <password>` with a user, `AUTH <password>`
/// without one.
pub(crate) fn with_credentials(
    config: ReplicaConfig,
    user: Option<&str>,
    password: Option<&str>,
) -> ReplicaConfig {
    match (user, password) {
        (Some(user), password) => config.with_user(
            user.as_bytes().to_vec(),
            password.unwrap_or_default().as_bytes().to_vec(),
        ),
        (None, Some(password)) => config.with_password(password.as_bytes().to_vec()),
        (None, None) => config,
    }
}
