-- An expired row guards nothing: its token is refused as expired before the replay check.
delete from meta.redirect_replay where expires_at < now()
