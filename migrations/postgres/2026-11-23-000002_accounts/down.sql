DROP INDEX callbacks_source_id;
DROP TABLE callback_views;
DROP TABLE api_tokens;
DROP TABLE sessions;
DROP TABLE users;
