-- A conversation of two is named by the other member: a title there stood in for the sender's
-- name in the recipient's list (an impersonation route). New ones refuse a title; old ones lose it.
update conversations set title = '' where kind = 'direct' and title <> '';
