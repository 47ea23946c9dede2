DROP TABLE view_marks;
