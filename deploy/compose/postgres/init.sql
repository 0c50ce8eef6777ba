-- One role and one database per service that owns data (database per service).
CREATE ROLE beatpass_upload LOGIN PASSWORD 'beatpass-dev';
CREATE ROLE beatpass_fingerprint LOGIN PASSWORD 'beatpass-dev';
CREATE ROLE beatpass_catalog LOGIN PASSWORD 'beatpass-dev';
CREATE DATABASE beatpass_upload OWNER beatpass_upload;
CREATE DATABASE beatpass_fingerprint OWNER beatpass_fingerprint;
CREATE DATABASE beatpass_catalog OWNER beatpass_catalog;
