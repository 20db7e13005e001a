-- Source schema of the plant's production records. Portable between SQLite and MySQL/MariaDB:
-- ids are assigned by the writer (no AUTO_INCREMENT), dates are DATE/DATETIME.
CREATE TABLE operadores (
    nombre VARCHAR(120) NOT NULL PRIMARY KEY,
    activo INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE tipos_pintura (
    nombre VARCHAR(120) NOT NULL PRIMARY KEY,
    precio_por_litro DOUBLE NOT NULL
);

-- One row per production record. `dia` is the production day the record was reported for;
-- the other columns are what operators typed and may be wrong or missing.
CREATE TABLE produccion (
    id BIGINT NOT NULL PRIMARY KEY,
    dia DATE NOT NULL,
    fecha_produccion DATETIME NULL,
    tipo_pintura VARCHAR(120) NULL,
    cantidad BIGINT NULL,
    costo_por_litro DOUBLE NULL,
    costo_produccion DOUBLE NULL,
    operador VARCHAR(120) NULL,
    actualizado_en DATETIME NOT NULL
);

CREATE INDEX idx_produccion_dia ON produccion (dia);

CREATE INDEX idx_produccion_actualizado ON produccion (actualizado_en);
