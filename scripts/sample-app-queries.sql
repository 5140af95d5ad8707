-- The sample app's queries (scripts/make_sample_app.py), as the app sends
-- them to SQLite. `make demo` replays them with `godwit workload`.

-- name: user_profile
-- params: :id = users.id
SELECT id, email, name, is_admin, created_at FROM users WHERE id = :id;

-- name: user_posts
-- weight: 3
-- params: :user_id = users.id zipf(1.1)
SELECT id, title, score, created_at FROM posts WHERE user_id = :user_id ORDER BY created_at DESC LIMIT 10;

-- name: post_comments
-- weight: 3
-- params: :post_id = posts.id zipf(1.2)
SELECT c.id, u.name, c.body FROM comments c LEFT JOIN users u ON u.id = c.user_id
WHERE c.post_id = :post_id ORDER BY c.id;

-- name: comments_by_user
-- params: ?1 = users.id
SELECT id, post_id, created_at FROM comments WHERE user_id = ?1 ORDER BY created_at DESC, id;

-- name: top_published
SELECT id, title, score FROM posts WHERE published = 1 ORDER BY score DESC, id LIMIT 5;

-- name: search_titles
SELECT count(*) FROM posts WHERE title LIKE '%postgres%';

-- name: admins
SELECT email FROM users WHERE is_admin = 1 ORDER BY email;
