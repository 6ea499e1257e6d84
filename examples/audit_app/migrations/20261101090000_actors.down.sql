DROP TABLE actors;
