DROP TABLE rejections;
