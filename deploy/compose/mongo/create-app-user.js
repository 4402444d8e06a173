// Runs once, when the mongo container initialises an empty data volume (docker-entrypoint-initdb.d,
// as the root user): the services' own user, allowed to read and write the trainyard database only.
// Its password is secrets/mongo_app_password; secrets/mongo_url carries the same password.
const fs = require("fs");

const password = fs.readFileSync("/run/mongo-secrets/mongo_app_password", "utf8").trim();
db.getSiblingDB("admin").createUser({
  user: "trainyard",
  pwd: password,
  roles: [{ role: "readWrite", db: "trainyard" }],
});
