-- Whether a jti has a live claim (HEAD on the doorplate page: answer like GET, claim nothing).
select 1 from meta.redirect_replay where jti = %(jti)s and expires_at >= now()
